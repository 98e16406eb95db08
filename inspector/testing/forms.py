"""The registered backend forms grouped by what they do, for tests about one kind of form.

Tests never list forms by name (``tests/test_form_names.py``): they parametrize over ``FORM_NAMES``,
or over one of these groups, each read off the forms' own capabilities — so a new form in the
registry is tested wherever it belongs without a test being edited.
"""

from __future__ import annotations

from ..protocol import FORM_NAMES, get_form

__all__ = ["ONE_OF_EACH", "PASSED_THROUGH", "REASKED", "SIDE_ANSWERED", "WRITTEN", "forms_where"]


def forms_where(**capabilities: bool) -> list[str]:
    """The forms whose capabilities are as given: ``forms_where(writes_answers=True)``."""
    return [name for name in FORM_NAMES
            if all(getattr(get_form(name), key) == value for key, value in capabilities.items())]


#: Forms whose answers the gateway writes (it translates them).
WRITTEN = forms_where(writes_answers=True)
#: Forms whose answers go on as the backend wrote them (an Anthropic-native backend).
PASSED_THROUGH = forms_where(writes_answers=False)
#: Forms whose side traffic — count_tokens, models, hello — the gateway answers itself.
SIDE_ANSWERED = forms_where(whole_api=False)
#: One form the gateway translates and one it passes through: for slow tests that need not run every form.
ONE_OF_EACH = [WRITTEN[0], PASSED_THROUGH[0]]
#: Forms whose broken tool calls the repair ladder can ask for again (``BackendForm.reasks``).
REASKED = forms_where(reasks=True)
