"""Recordings: every exchange kept as a replayable, diffable fixture (format: SCHEMA.md)."""

from ._redact import DEFAULT_SECRET_HEADERS, REDACTED, Redactor
from ._schema import SCHEMA, purpose_of, session_id_of
from ._diff import Comparison, compare, condense, exchange_view, response_message, view_lines, word_diff
from ._har import session_to_har
from ._reader import Chunk, ExchangeRecord, SessionRecord, body_bytes, list_sessions, open_target
from ._regression import Regression, retranslate
from ._toolcalls import ModelToolStats, toolcall_report
from ._replay import Answer, Match, Miss, ReplayIndex, conversation_key
from ._writer import ExchangeWriter, RecordingStore, body_for_disk

__all__ = [
    "Answer",
    "Chunk",
    "Comparison",
    "DEFAULT_SECRET_HEADERS",
    "REDACTED",
    "SCHEMA",
    "ExchangeRecord",
    "ExchangeWriter",
    "Match",
    "Miss",
    "ModelToolStats",
    "RecordingStore",
    "Redactor",
    "Regression",
    "ReplayIndex",
    "SessionRecord",
    "body_bytes",
    "body_for_disk",
    "compare",
    "condense",
    "conversation_key",
    "exchange_view",
    "list_sessions",
    "open_target",
    "response_message",
    "retranslate",
    "session_to_har",
    "toolcall_report",
    "view_lines",
    "word_diff",
    "purpose_of",
    "session_id_of",
]
