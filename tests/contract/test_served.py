"""The contract the tests hold the gateway to is the one the pinned Claude Code itself serves: its
own gateway (``claude gateway``, on a throwaway PostgreSQL) answers ``GET /protocol`` with exactly
the stored text. A new pinned version that serves another text fails here until it is stored (and
``test_clauses.py`` then names what it added or reworded)."""

from __future__ import annotations

import pytest

from inspector.testing import claude_gateway
from inspector.testing.claude import VERSION
from inspector.testing.claude_gateway import ClaudeGateway, why_no_postgres
from inspector.testing.contract import Contract

from .conftest import PROTOCOL


@pytest.fixture(scope="module")
def served(claude) -> str:
    why = why_no_postgres()
    if why:
        pytest.skip(f"Claude Code's gateway needs PostgreSQL, which cannot run here: {why}")
    with ClaudeGateway(claude) as gw:
        return gw.protocol()


@pytest.mark.e2e
@pytest.mark.claude
def test_the_pinned_binary_serves_the_stored_contract(served, tmp_path_factory):
    if served != (PROTOCOL.read_text() if PROTOCOL.exists() else None):
        fetched = tmp_path_factory.mktemp("contract") / PROTOCOL.name
        fetched.write_text(served)
        pytest.fail(f"Claude Code {VERSION}'s gateway serves a contract other than {PROTOCOL}: the text it "
                    f"serves is in {fetched}. Store it there (it is test data), then rule on what "
                    f"tests/contract/test_clauses.py names.")


@pytest.mark.e2e
@pytest.mark.claude
def test_the_served_contract_is_the_one_we_read(served):
    contract = Contract.parse(served)
    assert contract.title == "Claude Code gateway protocol"
    assert {"Messages", "Errors", "Models", "Telemetry", "Proxying to Bedrock, Vertex, or Foundry"} <= \
        {c.section for c in contract.clauses}


def test_where_postgresql_is_missing_the_skip_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(claude_gateway, "postgres_bin", lambda: None)
    assert "apt-get install postgresql" in (why_no_postgres() or "")
