"""``inspector eval``: candidate models scored on recorded Claude Code turns.

``_turns``      the turns: every recorded model call and its recorded answer (the recording reader)
``_candidate``  a turn sent to a candidate through the gateway's own translation and pipeline
``_score``      the comparison, pure: per turn (``TurnScore``) and per model (``ModelSummary``)
``_run``        the evaluation: models one after another, turns in order, everything scored kept
``_report``     the live table and the summary (rich), ``--json`` (schema: SCHEMA.md beside this file)
``_html``       ``--html``: recorded and candidate answers side by side, in the style of ``export --html``
"""

from ._candidate import Candidate, CandidateClient, Outcome
from ._html import eval_report
from ._report import EvalDisplay, summary_table, turn_line, write_json
from ._run import SCHEMA, EvalRun, run_eval
from ._score import (
    Cache,
    ModelSummary,
    TextScore,
    Timings,
    ToolScore,
    TurnScore,
    arguments_equivalent,
    normalise,
    score,
    similarity,
    summarise,
)
from ._turns import (
    SKIP_REASONS,
    AnswerDigest,
    RecordedRequest,
    ToolCall,
    Turn,
    TurnSet,
    load_turns,
    parse_turns,
    sessions_of,
)

__all__ = [
    "SCHEMA",
    "SKIP_REASONS",
    "AnswerDigest",
    "Cache",
    "Candidate",
    "CandidateClient",
    "EvalDisplay",
    "EvalRun",
    "ModelSummary",
    "Outcome",

    "RecordedRequest",
    "TextScore",
    "Timings",
    "ToolCall",
    "ToolScore",
    "Turn",
    "TurnScore",
    "TurnSet",
    "arguments_equivalent",
    "eval_report",
    "load_turns",
    "normalise",
    "parse_turns",
    "run_eval",
    "score",
    "sessions_of",
    "similarity",
    "summarise",
    "summary_table",
    "turn_line",
    "write_json",
]
