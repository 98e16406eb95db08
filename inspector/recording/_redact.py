"""Secrets never reach disk: header redaction for recordings."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

__all__ = ["DEFAULT_SECRET_HEADERS", "Redactor", "REDACTED"]

REDACTED = "[redacted]"
DEFAULT_SECRET_HEADERS = ("x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie",
                          "anthropic-admin-api-key", "x-goog-api-key", "api-key")


class Redactor:
    """Redacts headers by name or glob (``x-*-token``), case-insensitively."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        names = [n.strip().lower() for n in (*DEFAULT_SECRET_HEADERS, *extra) if n.strip()]
        self.exact = {n for n in names if not any(c in n for c in "*?[")}
        self.globs = [n for n in names if n not in self.exact]

    def secret(self, name: str) -> bool:
        low = name.lower()
        return low in self.exact or any(fnmatch.fnmatchcase(low, g) for g in self.globs)

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[list[str]]:
        return [[k, REDACTED if self.secret(k) else v] for k, v in headers]
