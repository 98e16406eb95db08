"""Secrets never reach disk: one ``Redactor`` for everything written or shown.

It redacts by *name* — headers (``x-api-key``, ``authorization``, ``x-auth-token``,
``*-api-key``, ``*-token``, ``*-secret``…), URL query keys (``?key=``, ``api_key=``, ``token=``…)
and JSON fields (``"password": …``) — and by *pattern*, anywhere in text: Anthropic, OpenAI,
AWS, GitHub, GitLab, Google, Slack, Stripe, Hugging Face and npm keys and tokens, JWTs,
private-key PEM blocks, bearer tokens, passwords in URLs and ``api_key = …`` assignments (the
shapes follow gitleaks' and detect-secrets' rule sets). The traffic itself is never touched:
only what is written (recordings, HAR) and shown (the colour log).

Every call takes an optional ``found`` counter and adds one per redaction, by kind
(``anthropic-key``, ``header:x-api-key``, ``query:key``, ``field:password``) — never the value:
that is the ``redacted`` note an exchange records.

It is fast where it runs per chunk: each pattern has literal keywords (like gitleaks'
``keywords``) looked for first with ``in``, and a pattern runs only where its keyword occurs.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import orjson

__all__ = [
    "DEFAULT_SECRET_HEADERS", "Finding", "REDACTED", "Redactor", "SECRET_FIELD", "SECRET_PATTERNS",
    "SECRET_QUERY_KEYS", "is_redacted", "redactor",
]

REDACTED = "[redacted]"
DEFAULT_SECRET_HEADERS = ("x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie",
                          "anthropic-admin-api-key", "x-goog-api-key", "api-key", "x-auth-token",
                          "x-amz-security-token", "*-api-key", "*-token", "*-secret", "*-password", "*-apikey",
                          "x-*-key", "x-*-auth")
#: Query-string keys whose value is a credential (compared lowercased, ``-`` as ``_``).
SECRET_QUERY_KEYS = frozenset({
    "key", "api_key", "apikey", "token", "access_token", "id_token", "refresh_token", "auth", "auth_token",
    "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature", "x_amz_signature",
    "x_amz_credential", "x_amz_security_token", "x_goog_signature", "x_goog_credential", "code", "session_token",
})
#: How the name of a secret field ends (after a prefix ending in ``_`` or ``-``: ``db_password``).
_FIELD_NAMES = (r"api[_-]?key|apikey|secret|secret[_-]?key|client[_-]?secret|password|passwd|token|access[_-]?token|"
                r"auth[_-]?token|refresh[_-]?token|id[_-]?token|session[_-]?token|private[_-]?key|bearer|"
                r"authorization|cookie|passphrase")
#: JSON field names whose string value is a credential — whatever the value looks like (``hunter2``).
SECRET_FIELD = re.compile(rf"(?i)^(?:.*[_-])?(?:{_FIELD_NAMES})$")
#: The words a secret field's name ends with: the literal keywords of the ``secret-field`` patterns.
_FIELD_WORDS = ("key", "secret", "password", "passwd", "token", "bearer", "authorization", "cookie", "passphrase")
_FIELD_NAME = rf"(?:[A-Za-z0-9_.-]*[_-])?(?:{_FIELD_NAMES})"


@dataclass(frozen=True, slots=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    keywords: tuple[str, ...]  # literal text one of which occurs in every match (lowercase if ``fold``)
    back: int = 0  # how far before its keyword a match may start
    window: int = 1024  # how far after its keyword a match may end (searched again unbounded if reached)
    fold: bool = False  # keywords are looked for in the lowercased text
    #: What must come right after a keyword for a match to be possible there (None: anything).
    follow: re.Pattern[str] | None = None


def _p(kind: str, regex: str, *keywords: str, back: int = 0, window: int = 1024, fold: bool = False,
       follow: str | None = None) -> _Pattern:
    return _Pattern(kind, re.compile(regex), keywords, back, window, fold,
                    re.compile(follow) if follow is not None else None)


_END = r"(?![A-Za-z0-9_-])"
# A secret starts after a non-word character — or after a JSON escape (``\nsk-ant-…`` in raw JSON text).
_START = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[nrt]))"
_B = r"(?:\b|(?<=\\[nrt]))"
#: The patterns. A regex's ``secret`` group, when it has one, is the part replaced.
SECRET_PATTERNS: tuple[_Pattern, ...] = (
    _p("private-key", r"-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY"
                      r"( BLOCK)?-----|(?:[A-Za-z0-9+/=:,-]|\s|\\[nr])*)", "PRIVATE KEY", back=40, window=65536),
    _p("anthropic-key", _START + r"sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{16,}", "sk-ant-"),
    _p("openai-key", _START + r"sk-(?:proj-|svcacct-|admin-)[A-Za-z0-9_-]{16,}|" + _START
       + r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|" + _START + r"sk-[A-Za-z0-9]{32,}" + _END, "sk-"),
    _p("aws-access-key-id", _B + r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b", "AKIA", "ASIA", "ABIA", "ACCA",
       "A3T"),
    _p("aws-secret-access-key", r"(?i)aws_?secret_?access_?key\\?[\"']?\s*[:=]\s*\\?[\"']?"
                                r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])", "secret_access_key",
       "secretaccesskey", back=4, fold=True),
    _p("github-token", _B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|" + _B + r"github_pat_[A-Za-z0-9_]{40,}\b",
       "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    _p("gitlab-token", _B + r"gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,}", "glpat-", "gldt-", "glptt-", "glrt-"),
    _p("google-api-key", _B + r"AIza[0-9A-Za-z_-]{35}" + _END, "AIza"),
    _p("google-oauth-token", _B + r"ya29\.[0-9A-Za-z_-]{20,}", "ya29."),
    _p("slack-token", _B + r"xox[abposre]-[0-9A-Za-z-]{10,}|https://hooks\.slack\.com/(?:services|workflows)/"
                      r"[A-Za-z0-9+/_-]{20,}", "xox", "hooks.slack.com", back=8),
    _p("stripe-key", _B + r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}", "_live_", "_test_", back=2),
    _p("huggingface-token", _START + r"hf_[A-Za-z0-9]{34,}" + _END, "hf_"),
    _p("npm-token", _START + r"npm_[A-Za-z0-9]{36}" + _END, "npm_"),
    _p("jwt", _B + r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", "eyJ", window=16384),
    _p("bearer-token", r"(?i)" + _B + r"bearer\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)", "bearer", fold=True),
    _p("url-password", r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"'\\]+:(?P<secret>[^\s:/@\"'\\]{3,})@", "://", back=24),
    _p("secret-assignment",
       r"(?i)" + _B + r"(?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|"
       r"refresh[_-]?token|password|passwd)\\?[\"']?\s*(?::|=|:=|=>)\s*\\?[\"']?"
       r"(?P<secret>(?=[A-Za-z0-9_\-./+=]*\d)(?=[A-Za-z0-9_\-./+=]*[A-Za-z])[A-Za-z0-9_\-./+=]{12,})",
       "key", "secret", "token", "password", "passwd", back=16, fold=True,
       # Each keyword ends its name, so the assignment follows it at once: "input_tokens" never
       # needs the regex (it is in every usage object of every stream).
       follow=r"""\\?["']?\s*(?::|=)"""),
    # A secret-named JSON field in text — a chunk of a stream, an OpenAI ``arguments`` string — as
    # JSON (``"password": "hunter2"``) or as JSON inside a JSON string (``\"password\": \"hunter2\"``,
    # a tool call's ``partial_json``): by its name, whatever its value looks like.
    _p("secret-field", rf'(?i)"{_FIELD_NAME}"\s*:\s*"(?P<secret>(?:[^"\\]|\\.)+)"', *_FIELD_WORDS, back=64,
       fold=True, follow=r'"\s*:\s*"'),
    _p("secret-field", rf'(?i)\\"{_FIELD_NAME}\\"\s*:\s*\\"'
                       r'(?P<secret>(?:[^"\\]|\\\\\\\\|\\\\\\"|\\\\[^"\\]|\\[^"\\])+)\\"',
       *_FIELD_WORDS, back=64, fold=True, follow=r'\\"\s*:\s*\\"'),
)

#: Every pattern's keywords, lowercased: most text has none of them, and then no pattern runs at all.
#: (Substring tests on the lowercased text: a case-insensitive regex alternation of them was 15× slower.)
_KEYWORDS = tuple(sorted({k.lower() for p in SECRET_PATTERNS for k in p.keywords}))
#: Short texts recur (header values, small chunks): their answer is kept.
_MEMO_LIMIT = 512


def marker(kind: str) -> str:
    return f"[redacted:{kind}]"


def is_redacted(value: str) -> bool:
    """A value the redactor already replaced (so a scan passes it)."""
    return value == REDACTED or (value.startswith("[redacted") and value.endswith("]"))


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret found in a text: its kind and where (never its value)."""

    kind: str
    start: int
    end: int


def _count(found: Counter[str] | None, kind: str) -> None:
    if found is not None:
        found[kind] += 1


class Redactor:
    """Redacts secrets from headers, URLs, text and JSON before they are written or shown.

    ``extra_headers``: more header names or globs (``x-my-token``, ``x-*-secret``), from the
    ``redact_headers`` option.
    """

    def __init__(self, extra_headers: Iterable[str] = ()) -> None:
        names = [n.strip().lower() for n in (*DEFAULT_SECRET_HEADERS, *extra_headers) if n.strip()]
        self.exact = {n for n in names if not any(c in n for c in "*?[")}
        self.globs = [n for n in names if n not in self.exact]
        self._header_cache: dict[str, bool] = {}
        self._memo: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._cache: dict[tuple[int, int], tuple[Any, tuple[tuple[str, int], ...]]] = {}

    # -- by name -----------------------------------------------------------------------------
    def secret_header(self, name: str) -> bool:
        low = name.lower()
        hit = self._header_cache.get(low)
        if hit is None:
            hit = low in self.exact or any(fnmatch.fnmatchcase(low, g) for g in self.globs)
            if len(self._header_cache) < 4096:
                self._header_cache[low] = hit
        return hit

    secret = secret_header  # the name it had

    def headers(self, headers: Iterable[tuple[str, str]] | Iterable[list[str]],
                found: Counter[str] | None = None) -> list[list[str]]:
        out = []
        for k, v in headers:
            if self.secret_header(k) and v and not is_redacted(v):
                _count(found, f"header:{k.lower()}")
                out.append([k, REDACTED])
            else:
                out.append([k, self.text(v, found) if k.lower() not in ("referer", "location") else (self.url(v, found) or "")])
        return out

    def url(self, url: str | None, found: Counter[str] | None = None) -> str | None:
        """``url`` (or a path with a query) with credential query values and URL passwords redacted."""
        if not url or ("?" not in url and "@" not in url):
            return url
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url, found)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            if ":" in userinfo:
                _count(found, "url-password")
                netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
        query = parts.query
        if query:
            pairs = []
            for piece in query.split("&"):
                key, eq, value = piece.partition("=")
                name = unquote(key).lower().replace("-", "_")
                if eq and value and name in SECRET_QUERY_KEYS and not is_redacted(unquote(value)):
                    _count(found, f"query:{name}")
                    value = quote(REDACTED)
                pairs.append(f"{key}{eq}{value}")
            query = "&".join(pairs)
        out = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        return self.text(out, found)

    # -- by pattern --------------------------------------------------------------------------
    def spans(self, text: str) -> list[Finding]:
        """Where secrets are in ``text``, by pattern, in order, not overlapping.

        Each pattern runs only in a window around the occurrences of its keywords (found with
        ``str.find``), so a long text with no secret costs a few substring searches."""
        if len(text) < 16:
            return []
        low = text.lower()
        if not any(k in low for k in _KEYWORDS):
            return []
        if len(low) != len(text):
            low = ""  # lowercasing moved some characters (İ → i̇): fold patterns search it all
        found: list[Finding] = []
        for pattern in SECRET_PATTERNS:
            if pattern.fold:
                haystack = low
                if not haystack:
                    found += self._all(pattern, text)
                    continue
            else:
                haystack = text
            # Every place a keyword occurs, in the order of the text: a match found at one covers
            # what it spans, a failed try covers nothing (another keyword may start a match there).
            follow = pattern.follow
            places = []
            for keyword in pattern.keywords:
                at = haystack.find(keyword)
                while at >= 0:
                    if follow is None or follow.match(text, at + len(keyword)):
                        places.append((at, len(keyword)))
                    at = haystack.find(keyword, at + 1)
            seen = -1
            for at, size in sorted(places) if len(pattern.keywords) > 1 else places:
                if at > seen:
                    end = self._near(pattern, text, at, size, found, seen)
                    if end != at:
                        seen = end
        found.sort(key=lambda f: (f.start, -f.end))
        merged: list[Finding] = []
        for f in found:
            if merged and f.start < merged[-1].end:
                continue
            merged.append(f)
        return merged

    @staticmethod
    def _all(pattern: _Pattern, text: str) -> list[Finding]:
        out = []
        for m in pattern.regex.finditer(text):
            start, end = m.span("secret") if "secret" in pattern.regex.groupindex else m.span()
            if not is_redacted(text[start:end]):
                out.append(Finding(pattern.kind, start, end))
        return out

    @staticmethod
    def _near(pattern: _Pattern, text: str, at: int, size: int, found: list[Finding], seen: int) -> int:
        """Try the pattern where it may start around one keyword occurrence; returns how far it looked."""
        end = min(len(text), at + size + pattern.window)
        for start in range(max(0, at - pattern.back, seen + 1), at + 1):
            m = pattern.regex.match(text, start, end)
            if m is None:
                continue
            if m.end() == end and end < len(text):  # it may go on past the window
                m = pattern.regex.match(text, start) or m
            span = m.span("secret") if "secret" in pattern.regex.groupindex else m.span()
            if not is_redacted(text[span[0]:span[1]]):
                found.append(Finding(pattern.kind, *span))
            return m.end() - 1
        return at

    def findings(self, text: str) -> list[Finding]:
        """Where secrets are in ``text`` (for ``inspector scan``), by pattern: kinds and places, no values."""
        return self.spans(text)

    def text(self, text: str, found: Counter[str] | None = None) -> str:
        """``text`` with every secret pattern replaced by ``[redacted:KIND]``."""
        short = len(text) <= _MEMO_LIMIT
        if short:
            memo = self._memo.get(text)
            if memo is not None:
                if not memo[1]:
                    return text  # this very object: callers tell "unchanged" by identity
                for kind in memo[1]:
                    _count(found, kind)
                return memo[0]
        spans = self.spans(text) if text else []
        kinds: tuple[str, ...] = ()
        if not spans:
            result = text
        else:
            out, last = [], 0
            for f in spans:
                out.append(text[last:f.start])
                out.append(marker(f.kind))
                last = f.end
            out.append(text[last:])
            result, kinds = "".join(out), tuple(f.kind for f in spans)
            for kind in kinds:
                _count(found, kind)
        if short:
            if len(self._memo) >= 8192:
                self._memo.clear()
            self._memo[text] = (result, kinds)
        return result

    def json(self, value: Any, found: Counter[str] | None = None) -> Any:
        """A JSON value with secrets in its strings, and the values of secret-named fields, redacted.

        Returns ``value`` itself (no copy) when there is nothing to redact — the common case.
        Claude Code re-sends the whole conversation every turn, so the top-level fields and the
        items of top-level lists (each message, each tool) are scanned once and remembered by a
        hash of their serialised form: a 500 KB conversation costs its new messages, not 500 KB."""
        if isinstance(value, str):
            return self.text(value, found)
        if isinstance(value, list):
            items = [self._part(v, found) for v in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        changed = False
        for k, v in value.items():
            if isinstance(v, str) and v and isinstance(k, str) and SECRET_FIELD.match(k) and not is_redacted(v):
                _count(found, f"field:{k.lower()}")
                out[k] = REDACTED
            elif isinstance(v, list):
                items = [self._part(item, found) for item in v]
                out[k] = v if all(a is b for a, b in zip(items, v, strict=True)) else items
            else:
                out[k] = self._part(v, found)
            changed = changed or out[k] is not v
        return out if changed else value

    def _part(self, value: Any, found: Counter[str] | None) -> Any:
        if isinstance(value, str):
            return self.text(value, found)
        if not isinstance(value, (dict, list)):
            return value
        try:
            raw = orjson.dumps(value)
        except TypeError:
            return value
        key = (len(raw), hash(raw))
        cached = self._cache.get(key)
        if cached is None:
            counts: Counter[str] = Counter()
            result = self.serialised(value, raw, counts)
            cached = (result if result is not value else None, tuple(counts.items()))
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[key] = cached
        if found is not None:
            for kind, n in cached[1]:
                found[kind] += n
        return value if cached[0] is None else cached[0]

    def serialised(self, value: Any, raw: bytes, found: Counter[str] | None = None) -> Any:
        """A JSON value whose compact serialised form is ``raw``, redacted as ``json`` redacts it
        (``value`` itself when there is nothing to redact); no cache: for callers that keep their own."""
        text = raw.decode()
        if self.spans(text) or _secret_field_in(text):
            return self._walk(value, found)
        return value

    def _walk(self, value: Any, found: Counter[str] | None) -> Any:
        if isinstance(value, str):
            return self.text(value, found)
        if isinstance(value, list):
            return [self._walk(v, found) for v in value]
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(v, str) and v and isinstance(k, str) and SECRET_FIELD.match(k) and not is_redacted(v):
                    _count(found, f"field:{k.lower()}")
                    out[k] = REDACTED
                else:
                    out[k] = self._walk(v, found)
            return out
        return value

    def body(self, body: dict[str, Any], found: Counter[str] | None = None) -> dict[str, Any]:
        """A body as ``body_for_disk`` makes it (json / text / base64 / empty), redacted."""
        enc = body.get("encoding")
        if enc == "json":
            redacted = self.json(body["json"], found)
            return body if redacted is body["json"] else {**body, "json": redacted}
        if enc == "text":
            return {**body, "text": self.text(body["text"], found)}
        return body  # base64 is not text; empty is empty

    def request(self, r: dict[str, Any], found: Counter[str] | None = None) -> dict[str, Any]:
        """A recorded request (``method``, ``url``, ``path``, ``headers``, ``body``), redacted."""
        out = dict(r)
        for key in ("url", "path"):
            if isinstance(r.get(key), str):
                out[key] = self.url(r[key], found)
        if r.get("headers") is not None:
            out["headers"] = self.headers(r["headers"], found)
        if isinstance(r.get("body"), dict):
            out["body"] = self.body(r["body"], found)
        return out


def _secret_field_in(text: str) -> bool:
    """Is there a secret-named field (``"api_key":"…"``) in serialised JSON? Cheaply: the words first."""
    low = text.lower()
    if not any(w + '":"' in low for w in _FIELD_WORDS):
        return False
    return any(SECRET_FIELD.match(k) for k in re.findall(r'"([^"\\]{1,64})":"', text))


_DEFAULT: Redactor | None = None


def redactor() -> Redactor:
    """The default ``Redactor`` (no extra header names), shared."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT
