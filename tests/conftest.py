import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # the support package: sdk, backends, gateway

DATA = TESTS / "data"


@pytest.fixture
def claude_code_request() -> bytes:
    """A real 49 KB request body from Claude Code 2.1.328 (first turn, Write offered)."""
    return (DATA / "claude-code-request.json").read_bytes()


@pytest.fixture
def claude_code_tool_result_request() -> bytes:
    """The same session's second turn: it carries the Write tool_result."""
    return (DATA / "claude-code-tool-result-request.json").read_bytes()
