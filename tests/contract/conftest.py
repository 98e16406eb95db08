"""Claude Code's own gateway contract — what ``claude gateway`` serves at ``GET /protocol`` — as stored
test data (``tests/data/claude-code-gateway/``), read as clauses and tables, and our ruling on each."""

from pathlib import Path

import pytest

from inspector.testing.claude import VERSION
from inspector.testing.contract import Classification, Contract

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "claude-code-gateway"
#: The contract the pinned binary serves, stored as it was served.
PROTOCOL = DATA / f"protocol-{VERSION}.md"
#: Our ruling on each of its clauses: met, not applicable, knowingly different (and why).
CLAUSES = DATA / "clauses.toml"


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract.parse(PROTOCOL.read_text())


@pytest.fixture(scope="session")
def classification() -> Classification:
    return Classification.load(CLAUSES)
