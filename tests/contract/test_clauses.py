"""Every clause of the contract the pinned Claude Code serves is ruled on — met, not applicable, or
knowingly different, with the reason — and the README's table is that ruling.

When a new Claude Code version is pinned, its contract is stored beside the old one
(``test_served.py`` says so) and these tests name each clause it added or reworded until it has a
ruling in ``tests/data/claude-code-gateway/clauses.toml``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from inspector.testing.claude import VERSION
from inspector.testing.contract import Classification, Contract

from .conftest import CLAUSES, PROTOCOL

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Claude Code's gateway contract"


def stanza(key: str, digest: str) -> str:
    return f'[clauses."{key}"]\nstatus = "?"\nwhy = "?"\ndigest = "{digest}"\n'


def problems(contract: Contract, classification: Classification) -> list[str]:
    """What stands between the contract and its classification, each with what to do."""
    out = [f"new clause, not classified:\n{stanza(c.key, c.digest)}\n  {c.text[:300]}"
           for c in classification.unclassified(contract)]
    out += [f"clause {c.key} was reworded since it was ruled {classification[c.key].status}: read it, rule "
            f"again, set digest = \"{c.digest}\"\n  {c.text[:300]}" for c in classification.changed(contract)]
    out += [f"ruling on a clause the contract no longer has: {key}" for key in classification.stale(contract)]
    return out


def test_the_classification_is_of_the_pinned_version(classification):
    assert classification.version == VERSION and PROTOCOL.name == f"protocol-{VERSION}.md"


def test_every_clause_of_the_contract_is_ruled_on(contract, classification):
    found = problems(contract, classification)
    assert not found, f"{CLAUSES.name} is behind {PROTOCOL.name}:\n\n" + "\n\n".join(found)
    assert len(contract.clauses) == 106


def test_every_ruling_says_why_and_what_pins_it(classification):
    for ruling in classification.rulings.values():
        assert len(ruling.why) > 20, f"{ruling.key}: say why"
        if ruling.status == "met":
            assert ruling.pinned_by, f"{ruling.key} is {ruling.status}: name the tests that pin it"


def _defined(path: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_the_pinning_tests_exist(classification):
    for ruling in classification.rulings.values():
        for test in ruling.pinned_by:
            path, _, name = test.partition("::")
            assert name in _defined(ROOT / path), f"{ruling.key}: {test} does not exist"


def test_a_new_clause_is_caught(classification):
    """What a new Claude Code version's contract looks like to these tests: a paragraph added to Messages."""
    text = PROTOCOL.read_text().replace("## Managed settings", "A gateway must now answer in haiku.\n\n"
                                                               "## Managed settings")
    (found,) = problems(Contract.parse(text), classification)
    assert found.startswith("new clause") and '[clauses."messages#a-gateway-must-now-answer-in"]' in found


def test_a_reworded_clause_is_caught(classification):
    text = PROTOCOL.read_text().replace("Return `404` to fall", "Return `410` to fall")
    (found,) = problems(Contract.parse(text), classification)
    assert found.startswith("clause models#anthropic-models-list-shape-data-id-display_name was reworded")


def test_the_tables_are_read_whole(contract):
    errors = contract.table("Errors", "HTTP")
    assert [(r[0], r[1]) for r in errors.rows] == [
        ("400", "`invalid_request_error`"), ("401", "`authentication_error`"), ("403", "`permission_error`"),
        ("413", "`request_too_large`"), ("429", "`rate_limit_error`"), ("429", "`billing_error`"),
        ("501", "`not_supported`"), ("529", "`overloaded_error`"), ("5xx", "`api_error`")]
    classes = contract.table("Customer-routed inference", "Class (in classification order)")
    assert classes.rows[3][0] == "`thinking_type:<enabled|adaptive>`", "an escaped pipe stays in its cell"
    assert [t.section for t in contract.tables] == ["Token", "Errors", "Usage-limit headers",
                                                   "Customer-routed inference"]


def test_the_readme_table_is_the_classification(contract, classification):
    text = README.read_text()
    assert SECTION in text, f"the README needs its {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    expected = classification.table(contract)
    assert expected in section, "the README's table differs from clauses.toml; it should read:\n\n" + expected


def test_the_readme_counts_are_right(contract, classification):
    section = README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    counts = {s: sum(r.status == s for r in classification.rulings.values()) for s in
              ("met", "not-applicable", "knowingly-different")}
    said = re.search(r"(\d+) clauses: (\d+) met, (\d+) knowingly different and (\d+) "
                     r"that do not apply", section)
    assert said, "the README says how many clauses there are, and how they are ruled"
    assert tuple(int(n) for n in said.groups()) == (len(contract.clauses), counts["met"],
                                                    counts["knowingly-different"], counts["not-applicable"])


def test_how_the_text_is_cut_into_clauses():
    text = ("# Title\n\nIntro words here.\n\n## Models — optional\n\nReturn this:\n\n    {\"data\": []}\n\n"
            "- **Lead.** An item that goes\n  on a second line.\n- Another item.\n\n"
            "| A | B |\n|---|---|\n| 1 | `x\\|y` |\n| 1 | z |\n\n> **Note:** a note.\n\nReturn this:\n")
    contract = Contract.parse(text)
    assert [(c.key, c.kind) for c in contract.clauses] == [
        ("preamble#intro-words-here", "paragraph"), ("models#return-this", "paragraph"),
        ("models#lead", "item"), ("models#another-item", "item"), ("models#1-x-y", "row"), ("models#1-z", "row"),
        ("models#note", "note"), ("models#return-this-2", "paragraph")]
    assert contract.clauses[1].text == 'Return this:\n    {"data": []}', "the example is part of its clause"
    assert contract.clauses[2].text == "**Lead.** An item that goes on a second line."
    assert contract.table("Models", "A").rows == [["1", "`x|y`"], ["1", "z"]]
