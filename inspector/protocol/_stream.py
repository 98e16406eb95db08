"""What every backend → Anthropic stream translator shares."""

from __future__ import annotations

from ._anthropic import MessageStreamEncoder
from ._errors import GatewayError, backend_error, garbage_error
from ._notes import Notes

__all__ = ["StreamTranslator"]


class StreamTranslator:
    """``feed(bytes) -> bytes`` of Anthropic SSE, ``flush() -> bytes`` at end of input.

    Correct for any split of the input bytes. After an error the translator is
    finished: further input is recorded by the caller but produces no output.
    """

    form = "?"
    expected = "?"

    def __init__(
        self,
        *,
        model: str,
        backend_model: str | None = None,
        backend: str = "the backend",
        input_tokens: int = 0,
        notes: Notes | None = None,
    ) -> None:
        self.encoder = MessageStreamEncoder(model=model, input_tokens=input_tokens)
        self.model = model
        self.backend_model = backend_model or model
        self.backend = backend
        self.notes = notes if notes is not None else Notes()
        self.error: GatewayError | None = None
        self.events_in = 0
        #: True when the input ended before the backend said it was done.
        self.cut = False

    @property
    def finished(self) -> bool:
        return self.encoder.finished

    def feed(self, chunk: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared endings ------------------------------------------------------------------------
    def _fail(self, err: GatewayError) -> bytes:
        if self.encoder.finished:
            return b""
        self.error = err
        self.notes.error(err.message)
        return self.encoder.error(err.type, err.message)

    def _garbage(self, sample: bytes | str) -> bytes:
        return self._fail(garbage_error(form=self.form, backend=self.backend, sample=sample,
                                        expected=self.expected))

    def _backend_error(self, status: int, body: object) -> bytes:
        return self._fail(backend_error(form=self.form, status=status, body=body,  # type: ignore[arg-type]
                                        model=self.backend_model, backend=self.backend))

    def _cut(self) -> bytes:
        if self.encoder.finished:
            return b""
        self.cut = True
        what = "before sending anything" if not self.events_in else \
            f"after {self.events_in} chunks, before it said it was done"
        return self._fail(GatewayError(
            502, "api_error",
            f"the stream from {self.backend} ended {what}: the backend probably crashed or "
            f"was stopped; what arrived is kept in the recording. Retry the request."))
