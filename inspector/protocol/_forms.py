"""The registry of backend forms: ``FORMS["ollama"]``, ``get_form(name)``.

Each form is one object (``_form.BackendForm``) defined beside its translator; the gateway,
the regression re-runs, doctor and the CLI look forms up here, so a re-run translates recorded
traffic exactly as the gateway did and a new form is one module plus one line below.
"""

from __future__ import annotations

from typing import Any, cast

from ._form import BackendForm, FormName, StreamProcessor
from ._notes import Notes
from ._ollama import OLLAMA
from ._openai import OPENAI
from ._options import TranslateOptions
from ._passthrough import ANTHROPIC
from ._tools import ToolNames

__all__ = ["FORMS", "FORM_NAMES", "get_form", "stream_translator"]

FORMS: dict[str, BackendForm] = {form.name: form for form in (OLLAMA, OPENAI, ANTHROPIC)}
FORM_NAMES = cast(tuple[FormName, ...], tuple(FORMS))


def get_form(name: str) -> BackendForm:
    try:
        return FORMS[name]
    except KeyError:
        raise ValueError(f"unknown backend form {name!r} (one of: {', '.join(FORMS)})") from None


def stream_translator(form: str, *, options: TranslateOptions, names: ToolNames | None = None,
                      model: str, backend_model: str | None = None, backend: str = "the backend",
                      input_tokens: int = 0, notes: Notes | None = None,
                      tools: list[dict[str, Any]] | None = None) -> StreamProcessor:
    """The stream processor of ``form`` (kept for callers that have only the name)."""
    return get_form(form).stream_processor(
        options=options, names=names, model=model, backend_model=backend_model or model, backend=backend,
        input_tokens=input_tokens, notes=notes if notes is not None else Notes(), tools=tools)
