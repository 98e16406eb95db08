"""``inspector scan``: is a folder (or what is staged for a commit) safe to publish?

It looks for what the recorder redacts — secret patterns anywhere in text, secret-named
headers, query keys and JSON fields — in every file, and in recordings also in each stream
reassembled (a key the model streamed split over several events is whole only there). A
finding says what kind of secret and where, never the secret itself.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ._pieces import PIECES_FILE, Pieces
from ._redact import SECRET_FIELD, SECRET_QUERY_KEYS, Redactor, is_redacted
from ._redact import redactor as default_redactor

__all__ = ["ScanFinding", "ScanReport", "scan_blob", "scan_paths", "scan_staged"]

SKIPPED_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".cache", ".hypothesis", ".pytest_cache"})
#: Keys whose string values are what a stream's content is made of, in all three API forms.
_CONTENT_KEYS = frozenset({"text", "content", "thinking", "partial_json", "arguments", "reasoning_content",
                           "reasoning", "response"})


@dataclass(frozen=True, slots=True)
class ScanFinding:
    path: str
    where: str  # "LINE:COL", a JSON path, or "the reassembled stream"
    kind: str
    length: int

    def __str__(self) -> str:
        size = f" ({self.length} characters)" if self.length else ""
        return f"{self.path}:{self.where}: {self.kind}{size}"


@dataclass(slots=True)
class ScanReport:
    findings: list[ScanFinding] = field(default_factory=list)
    files: int = 0
    skipped: list[str] = field(default_factory=list)  # binary files, unreadable files

    @property
    def safe(self) -> bool:
        return not self.findings


def _line_col(offset: int, starts: list[int]) -> str:
    line = bisect.bisect_right(starts, offset)
    return f"{line}:{offset - starts[line - 1] + 1}"


def _fields(value: Any, path: str, r: Redactor) -> Iterator[tuple[str, str, int]]:
    """(JSON path, kind, length) of secrets found by *name* in parsed JSON."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if k == "headers" and isinstance(v, list):
                for i, pair in enumerate(v):
                    if (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
                            and r.secret_header(pair[0]) and pair[1] and not is_redacted(pair[1])):
                        yield f"{here}.{i}", f"header:{pair[0].lower()}", len(pair[1])
                continue
            if isinstance(v, str) and v and not is_redacted(v):
                if SECRET_FIELD.match(str(k)):
                    yield here, f"field:{str(k).lower()}", len(v)
                elif k in ("url", "path") and "?" in v:
                    for key, val in parse_qsl(urlsplit(v).query, keep_blank_values=False):
                        name = key.lower().replace("-", "_")
                        if name in SECRET_QUERY_KEYS and val and not is_redacted(val):
                            yield here, f"query:{name}", len(val)
            yield from _fields(v, here, r)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _fields(v, f"{path}.{i}" if path else str(i), r)


def _content_strings(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _CONTENT_KEYS and isinstance(v, str):
                out.append(v)
            else:
                _content_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _content_strings(v, out)


def _reassembled(stream: str) -> str:
    """The content a stream carries, events' pieces joined (SSE ``data:`` lines or NDJSON lines)."""
    pieces: list[str] = []
    for line in stream.splitlines():
        line = line.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        if not line.startswith("{"):
            continue
        try:
            _content_strings(orjson.loads(line), pieces)
        except orjson.JSONDecodeError:
            continue
    return "".join(pieces)


def scan_blob(name: str, data: bytes, *, redactor: Redactor | None = None,
              pieces: Pieces | None = None) -> list[ScanFinding]:
    """The findings in one file's bytes (``name`` says how to read it: .json, .jsonl, anything).

    ``pieces``: the session's pieces, for a request file that refers to them (format 2): the
    request is also read whole, where a secret-named field's long value is a piece of its own."""
    r = redactor or default_redactor()
    text = data.decode("utf-8", "replace")
    spans = r.findings(text)
    parsed: Any = None
    if name.endswith(".json"):
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(data)
            # A secret field of the document itself (its value's quote not escaped) is said once, by
            # its JSON path below; one inside a string (an OpenAI ``arguments`` string) by its place.
            spans = [f for f in spans if not (f.kind == "secret-field" and text[f.start - 2:f.start - 1] != "\\")]
    starts = [0, *(m.end() for m in re.finditer("\n", text))] if spans else [0]
    found = [ScanFinding(name, _line_col(f.start, starts), f.kind, f.end - f.start) for f in spans]
    if parsed is not None:
        found += [ScanFinding(name, where, kind, n) for where, kind, n in _fields(parsed, "", r)]
        body = parsed.get("body") if isinstance(parsed, dict) else None
        if pieces is not None and isinstance(body, dict) and body.get("encoding") == "pieces":
            whole = pieces.decode(body.get("json"), [])
            seen = {f.where for f in found}
            found += [ScanFinding(name, f"body.json.{where} (in the session's pieces)", kind, n)
                      for where, kind, n in _fields(whole, "", r) if f"body.json.{where}" not in seen]
    elif name.endswith(".jsonl"):
        chunks: list[str] = []
        for n, line in enumerate(data.splitlines(), 1):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            found += [ScanFinding(name, f"{n} {where}", kind, size) for where, kind, size in _fields(record, "", r)]
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                chunks.append(record["text"])
        whole = "".join(chunks)
        raw = Counter(f.kind for f in r.findings(whole))
        joined = Counter(f.kind for f in r.findings(_reassembled(whole)))
        for kind, count in (joined - raw).items():  # split over events: whole only when reassembled
            found += [ScanFinding(name, "the reassembled stream", kind, 0)] * count
    return found


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.name not in SKIPPED_DIRS and not child.is_symlink():
                    yield from _files([child])
        elif path.is_file():
            yield path


def _binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def scan_paths(paths: Iterable[Path | str], *, redactor: Redactor | None = None) -> ScanReport:
    """Scan files and folders (recursively, skipping .git, .venv, caches and binary files).

    Raises ``FileNotFoundError`` for a path that does not exist."""
    roots = [Path(p) for p in paths]
    for p in roots:
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
    report = ScanReport()
    for path in _files(roots):
        try:
            data = path.read_bytes()
        except OSError as e:
            report.skipped.append(f"{path} ({e.strerror or e})")
            continue
        if _binary(data):
            report.skipped.append(f"{path} (binary)")
            continue
        report.files += 1
        report.findings += scan_blob(str(path), data, redactor=redactor, pieces=_pieces_beside(path))
    return report


def _pieces_beside(path: Path) -> Pieces | None:
    """The pieces of the session a request file belongs to (format 2), when it has any."""
    if not path.name.endswith("-request.json"):
        return None
    pieces = path.parent.parent / PIECES_FILE
    return Pieces(pieces) if pieces.is_file() else None


def scan_staged(prefixes: Iterable[str] = (), *, cwd: Path | str | None = None,
                redactor: Redactor | None = None) -> ScanReport:
    """Scan what ``git commit`` would record: the staged content of added and changed files.

    ``prefixes`` limits it to paths under them (e.g. ``recordings/``). Raises ``RuntimeError``
    outside a git work tree."""
    names = subprocess.run(["git", "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"],
                           cwd=cwd, capture_output=True)
    if names.returncode != 0:
        raise RuntimeError(names.stderr.decode("utf-8", "replace").strip() or "not a git work tree")
    wanted = [n for n in names.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    prefixes = [p.rstrip("/") + "/" if not p.endswith((".json", ".jsonl")) else p for p in prefixes]
    if prefixes:
        wanted = [n for n in wanted if any(n == p or n.startswith(p) for p in prefixes)]
    report = ScanReport()
    if not wanted:
        return report
    # One process for all blobs: ``git cat-file --batch`` reads ``:PATH`` (the index's version).
    wanted = [n for n in wanted if "\n" not in n]
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=cwd, capture_output=True,
                           input="".join(f":{n}\n" for n in wanted).encode("utf-8", "surrogateescape"))
    out = batch.stdout
    pos = 0
    for name in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        data = out[pos:pos + size]
        pos += size + 1
        if header[1] != b"blob" or _binary(data):
            report.skipped.append(f"{name} ({'binary' if header[1] == b'blob' else header[1].decode()})")
            continue
        report.files += 1
        # A request's pieces as the work tree has them (a staged pieces.jsonl is scanned on its own too).
        beside = _pieces_beside(Path(cwd or ".") / name)
        report.findings += scan_blob(name, data, redactor=redactor, pieces=beside)
    return report
