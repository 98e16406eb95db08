"""Recordings: every exchange kept as a replayable, diffable fixture (format: SCHEMA.md)."""

from ._chaos import Chaos, ChaosSpec, Fault
from ._diff import Comparison, compare, condense, exchange_view, response_message, view_lines, word_diff
from ._har import session_to_har
from ._ladder import RUNGS, LadderStep, ladder, top_rung
from ._reader import (
    Chunk,
    ExchangeMeta,
    ExchangeRecord,
    SessionMeta,
    SessionRecord,
    body_bytes,
    is_session,
    list_sessions,
    not_recordings,
    open_target,
    readable_request,
    readable_response,
)
from ._redact import (
    DEFAULT_SECRET_HEADERS,
    REDACTED,
    SECRET_PATTERNS,
    Finding,
    Redactor,
    is_redacted,
    redactor,
)
from ._regression import Regression, retranslate
from ._replay import Answer, Match, Miss, ReplayIndex, closest_miss, conversation_key, workdir_of
from ._schema import SCHEMA, epoch_of, purpose_of, session_id_of, utc_iso
from ._stats import ModelStats, quantile, stats_report
from ._toolcalls import ModelToolStats, toolcall_report
from ._writer import ExchangeWriter, RecordingStore, body_for_disk

__all__ = [
    "RUNGS",
    "LadderStep",
    "ladder",
    "top_rung",
    "Answer",
    "Chaos",
    "ChaosSpec",
    "Chunk",
    "Comparison",
    "Finding",
    "epoch_of",
    "DEFAULT_SECRET_HEADERS",
    "REDACTED",
    "SCHEMA",
    "SECRET_PATTERNS",
    "ExchangeMeta",
    "ExchangeRecord",
    "ExchangeWriter",
    "Fault",
    "Match",
    "Miss",
    "ModelStats",
    "ModelToolStats",
    "RecordingStore",
    "Redactor",
    "Regression",
    "ReplayIndex",
    "SessionMeta",
    "SessionRecord",
    "body_bytes",
    "body_for_disk",
    "closest_miss",
    "compare",
    "condense",
    "conversation_key",
    "exchange_view",
    "is_redacted",
    "is_session",
    "list_sessions",
    "not_recordings",
    "open_target",
    "readable_request",
    "readable_response",
    "response_message",
    "redactor",
    "retranslate",
    "session_to_har",
    "stats_report",
    "toolcall_report",
    "view_lines",
    "word_diff",
    "workdir_of",
    "purpose_of",
    "quantile",
    "session_id_of",
    "utc_iso",
]
