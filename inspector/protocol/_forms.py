"""One place that builds the stream translator for a backend form.

The gateway and the regression re-runs (``inspector.recording._regression``) both use it, so a
re-run translates recorded traffic exactly as the gateway did.
"""

from __future__ import annotations

from typing import Any

from ._ollama import OllamaStreamTranslator
from ._openai import OpenAIStreamTranslator
from ._options import TranslateOptions
from ._stream import StreamTranslator
from ._tools import ToolNames

__all__ = ["stream_translator"]


def stream_translator(form: str, *, options: TranslateOptions, names: ToolNames | None = None,
                      **kw: Any) -> StreamTranslator:
    """``kw``: model, backend_model, backend, input_tokens, notes, tools (see ``StreamTranslator``)."""
    if form == "ollama":
        return OllamaStreamTranslator(num_ctx=options.num_ctx, repair=options.repair, **kw)
    if form == "openai":
        return OpenAIStreamTranslator(names=names, repair=options.repair, **kw)
    raise ValueError(f"no stream translator for backend form {form!r}")
