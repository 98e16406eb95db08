"""The registry of backend forms: ``FORMS["ollama"]``, ``get_form(name)``, ``FORM_NAMES``.

Each form is one object (``_form.BackendForm``) defined beside its translator; the gateway,
the regression re-runs, eval, doctor and the CLI look forms up here, so a re-run translates
recorded traffic exactly as the gateway did and a new form is one module plus one line below.
This is the only place the forms are listed (``tests/test_form_names.py`` holds everyone else to it).
"""

from __future__ import annotations

from ._form import BackendForm
from ._ollama import OLLAMA
from ._openai import OPENAI
from ._passthrough import ANTHROPIC
from ._responses import RESPONSES

__all__ = ["FORMS", "FORM_NAMES", "get_form"]

FORMS: dict[str, BackendForm] = {form.name: form for form in (OLLAMA, OPENAI, ANTHROPIC, RESPONSES)}
FORM_NAMES: tuple[str, ...] = tuple(FORMS)


def get_form(name: str) -> BackendForm:
    try:
        return FORMS[name]
    except KeyError:
        raise ValueError(f"unknown backend form {name!r} (one of: {', '.join(FORMS)})") from None

