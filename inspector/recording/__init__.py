"""Recordings: every exchange kept as a replayable, diffable fixture (format: SCHEMA.md)."""

from ._redact import DEFAULT_SECRET_HEADERS, REDACTED, Redactor
from ._schema import SCHEMA, purpose_of, session_id_of
from ._writer import ExchangeWriter, RecordingStore, body_for_disk

__all__ = [
    "DEFAULT_SECRET_HEADERS",
    "REDACTED",
    "SCHEMA",
    "ExchangeWriter",
    "RecordingStore",
    "Redactor",
    "body_for_disk",
    "purpose_of",
    "session_id_of",
]
