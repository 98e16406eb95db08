"""Nothing outside the registry decides anything by a backend form's name.

The forms are listed once, in ``inspector/protocol/_forms.py`` (``FORMS``, ``FORM_NAMES``); what differs
between them is the form's own (its methods and capabilities: ``needs_backend_model``, ``whole_api``,
``writes_answers``…). So, over ``inspector/`` and ``tests/``, read as Python (not as text):

* no comparison against a form's name (``form == "anthropic"``, ``backend in ("ollama", "openai")``,
  ``match form: case "openai"``) — a test branches on a capability, or on the form object's attributes;
* no literal that lists two forms or more by name (``["ollama", "openai", "anthropic"]`` in a
  ``parametrize``, ``{"ollama": …, "openai": …}``) — tests parametrize over ``FORM_NAMES``, filtered by
  capability when a test is about one.

An ``assert`` may compare with a name: it checks a value (what a recording says its form was), it
decides nothing. Naming one form — ``ScriptedBackend("ollama", …)``, ``backend="openai"`` — is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inspector.protocol import FORM_NAMES

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "inspector" / "protocol" / "_forms.py"
NAMES = frozenset(FORM_NAMES)


def _sources() -> list[Path]:
    files = sorted((ROOT / "inspector").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    return [f for f in files if f != REGISTRY and "data" not in f.relative_to(ROOT).parts]


def _names_in(node: ast.AST) -> set[str]:
    """Form names written as string literals in ``node`` (through nested literals, not through calls)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES:
        return {node.value}
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Dict):
        return set().union(*(_names_in(k) for k in node.keys if k is not None), *(_names_in(v) for v in node.values))
    return set()


class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self._in_assert = 0

    def visit_Assert(self, node: ast.Assert) -> None:
        self._in_assert += 1
        self.generic_visit(node)
        self._in_assert -= 1

    def visit_Compare(self, node: ast.Compare) -> None:
        named = set().union(*(_names_in(n) for n in [node.left, *node.comparators]))
        if named and not self._in_assert:
            self.found.append((node.lineno, f"compares with {', '.join(sorted(named))}"))
        self.generic_visit(node)

    def visit_MatchValue(self, node: ast.MatchValue) -> None:
        if _names_in(node.value):
            self.found.append((node.lineno, f"matches {', '.join(sorted(_names_in(node.value)))}"))
        self.generic_visit(node)

    def _literal(self, node: ast.List | ast.Tuple | ast.Set | ast.Dict) -> None:
        named = _names_in(node)
        if len(named) >= 2 and not self._in_assert:
            self.found.append((node.lineno, f"lists {', '.join(sorted(named))} by hand"))
            return  # its parts are the same finding
        self.generic_visit(node)

    visit_List = visit_Tuple = visit_Set = visit_Dict = _literal


def _findings(source: str) -> list[tuple[int, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_form_name_decides_anything_outside_the_registry(path):
    found = _findings(path.read_text())
    assert not found, "\n".join(f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in found)


@pytest.mark.parametrize(("source", "caught"), [
    ('if form == "anthropic": pass', True),
    ('x = backend in ("ollama", "openai")', True),
    ('strict = form != "anthropic"', True),
    ('match form:\n    case "openai": pass', True),
    ('pytest.mark.parametrize("form", ["ollama", "openai", "anthropic"])', True),
    ('RENDER = {"ollama": a, "openai": b}', True),
    ('CASES = [("ollama", "/api/chat"), ("openai", "/v1/chat/completions")]', True),
    ('assert meta["form"] == "ollama"', False),
    ('assert forms == ["ollama", "openai", "ollama"]', False),
    ('ScriptedBackend("ollama", script)', False),
    ('Gateway(url, backend="openai")', False),
    ('if get_form(form).whole_api: pass', False),
])
def test_the_check_catches_what_it_says(source, caught):
    assert bool(_findings(source)) == caught
