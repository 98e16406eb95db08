"""Claude Code's own gateway contract — the markdown ``claude gateway`` serves at ``GET /protocol`` —
read as clauses and tables, and the classification we keep of each clause.

The contract is prose in sections (``## Errors``), with tables, bullet lists and code examples.
A *clause* is one unit a gateway can meet or not: a paragraph, a list item, a table row, a note.
Each has a stable key — ``section#words`` — made from its section's name (without "— required" /
"— optional") and its first words (a bullet's bold lead, a row's first cells), and a digest of its
text, code examples included, so a clause that is reworded in a new Claude Code version shows up as
changed. ``Classification`` reads the data file that says, per key, whether the gateway meets the
clause, why it does not apply, or why it knowingly differs.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["STATUSES", "Classification", "Clause", "Contract", "Ruling", "Table"]

ClauseKind = Literal["paragraph", "item", "row", "note"]
Status = Literal["met", "not-applicable", "knowingly-different"]
STATUSES: tuple[Status, ...] = ("met", "not-applicable", "knowingly-different")

_WORDS = 6
_BOLD_LEAD = re.compile(r"^\*\*(.+?)\*\*")
_ROW_SPLIT = re.compile(r"(?<!\\)\|")


def _slug(text: str, words: int = _WORDS) -> str:
    """The first ``words`` words of ``text`` (URLs and markup left out), joined by dashes."""
    text = re.sub(r"\S+://\S+", " ", text.lower().replace("'", "").replace("’", ""))
    text = re.sub(r"[`*\"{}()\[\]<>,;]", " ", text)
    parts = [p.strip(".:/-") for p in re.findall(r"[a-z0-9][a-z0-9_./:-]*", text)]
    return "-".join([p for p in parts if p][:words])


def _normal(text: str) -> str:
    return " ".join(text.split())


def _digest(text: str) -> str:
    return hashlib.sha256(_normal(text).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Clause:
    key: str
    section: str
    kind: ClauseKind
    text: str

    @property
    def digest(self) -> str:
        return _digest(self.text)


@dataclass(frozen=True, slots=True)
class Table:
    section: str
    header: list[str]
    rows: list[list[str]]


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _ROW_SPLIT.split(inner)]


def _section_name(heading: str) -> str:
    return re.split(r"\s+—\s+(?:required|optional)\b", heading.strip(), maxsplit=1)[0]


@dataclass
class Contract:
    """``Contract.parse(markdown)``: the sections' clauses (in order) and tables."""

    title: str = ""
    clauses: list[Clause] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Contract:
        contract = cls()
        section = ""
        block: list[str] = []
        keys: dict[str, int] = {}

        def add(kind: ClauseKind, lead: str, body: str) -> None:
            base = f"{_slug(section, 8) or 'preamble'}#{lead}"
            n = keys.get(base, 0) + 1
            keys[base] = n
            contract.clauses.append(Clause(base if n == 1 else f"{base}-{n}", section, kind, body))

        def flush() -> None:
            if not block:
                return
            lines = block[:]
            block.clear()
            first = lines[0]
            if first.startswith("    "):  # a code example: part of the clause it illustrates
                if contract.clauses and contract.clauses[-1].section == section:
                    last = contract.clauses.pop()
                    contract.clauses.append(Clause(last.key, last.section, last.kind,
                                                   last.text + "\n" + "\n".join(lines)))
                else:
                    add("paragraph", _slug(lines[0]), "\n".join(lines))
                return
            if first.startswith("|"):
                header = _cells(first)
                rows = [_cells(line) for line in lines[2:]]
                contract.tables.append(Table(section, header, rows))
                firsts = [r[0] for r in rows]
                for row in rows:
                    lead = _slug(row[0]) if firsts.count(row[0]) == 1 else _slug(f"{row[0]} {row[1]}")
                    add("row", lead, " | ".join(f"{h}: {c}" for h, c in zip(header, row, strict=False)))
                return
            if first.startswith(">"):
                body = _normal(" ".join(line.lstrip("> ") for line in lines))
                bold = _BOLD_LEAD.match(body)
                add("note", _slug(bold.group(1) if bold else body), body)
                return
            if re.match(r"^(?:- |\d+\. )", first):
                items: list[list[str]] = []
                for line in lines:
                    if re.match(r"^(?:- |\d+\. )", line):
                        items.append([re.sub(r"^(?:- |\d+\. )", "", line)])
                    else:
                        items[-1].append(line.strip())
                for item in items:
                    body = _normal(" ".join(item))
                    bold = _BOLD_LEAD.match(body)
                    add("item", _slug(bold.group(1)) if bold else _slug(body), body)
                return
            body = _normal(" ".join(lines))
            bold = _BOLD_LEAD.match(body)
            add("paragraph", _slug(bold.group(1)) if bold else _slug(body), body)

        for line in text.splitlines():
            if line.startswith("# ") and not contract.title:
                contract.title = line[2:].strip()
                continue
            if line.startswith("## "):
                flush()
                section = _section_name(line[3:])
                continue
            if not line.strip():
                flush()
                continue
            # A table right after text, or code after text (and the other way round), starts a new block.
            if block and (line.startswith("|") != block[0].startswith("|")
                          or line.startswith("    ") != block[0].startswith("    ")):
                flush()
            block.append(line)
        flush()
        return contract

    def section(self, name: str) -> list[Clause]:
        return [c for c in self.clauses if c.section == name]

    def table(self, section: str, first_column: str) -> Table:
        """The table in ``section`` whose first column is headed ``first_column``."""
        for t in self.tables:
            if t.section == section and t.header[0] == first_column:
                return t
        raise KeyError(f"no table headed {first_column!r} in section {section!r}")

    def text_of(self, key: str) -> str:
        for c in self.clauses:
            if c.key == key:
                return c.text
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Ruling:
    """What we say about one clause: its status, why, and the tests that pin it."""

    key: str
    status: Status
    why: str
    digest: str
    pinned_by: tuple[str, ...] = ()
    #: The name of the shared reason ``why`` is (``[reasons]``), "" for a reason of its own.
    reason: str = ""


class Classification:
    """The data file (TOML): ``[clauses."section#words"]`` with ``status``, ``why``, ``digest`` and
    ``pinned_by``; a ``why`` of ``"@name"`` is the text of ``[reasons] name`` (one reason shared by
    a run of clauses, e.g. every clause about sign-in)."""

    def __init__(self, rulings: dict[str, Ruling], *, version: str = "") -> None:
        self.rulings = rulings
        self.version = version

    @classmethod
    def load(cls, path: Path) -> Classification:
        data = tomllib.loads(path.read_text())
        reasons = data.get("reasons", {})
        rulings = {}
        for key, entry in data.get("clauses", {}).items():
            status = entry.get("status")
            if status not in STATUSES:
                raise ValueError(f"{path}: clause {key!r} has status {status!r}, not one of {STATUSES}")
            why, reason = str(entry.get("why", "")).strip(), ""
            if why.startswith("@"):
                reason = why[1:]
                if reason not in reasons:
                    raise ValueError(f"{path}: clause {key!r} names reason {why!r}, which [reasons] lacks")
                why = str(reasons[reason]).strip()
            rulings[key] = Ruling(key, status, " ".join(why.split()), str(entry.get("digest", "")),
                                  tuple(entry.get("pinned_by", ())), reason)
        return cls(rulings, version=str(data.get("version", "")))

    def table(self, contract: Contract) -> str:
        """The README's table (markdown): a row per clause, a run of clauses in one section with one
        ruling and one reason in a single row; the shared reasons are written once, after it."""
        lines = ["| Clause | Ruling | Why |", "|---|---|---|"]
        shared: dict[str, str] = {}
        runs: list[list[Clause]] = []
        for c in contract.clauses:
            last = runs[-1][-1] if runs else None
            if last is not None and last.section == c.section and self._same(last.key, c.key):
                runs[-1].append(c)
            else:
                runs.append([c])
        for run in runs:
            ruling = self.rulings.get(run[0].key)
            if ruling is None:
                continue
            if len(run) == 1:
                name = f"`{run[0].key}`"
            elif len(run) == len(contract.section(run[0].section)):
                name = f"{run[0].section or 'Preamble'}: all {len(run)} clauses"
            else:
                name = f"`{run[0].key}` and {len(run) - 1} more of {run[0].section or 'the preamble'}"
            why = ruling.why
            if ruling.reason:
                shared[ruling.reason] = ruling.why
                why = f"*{ruling.reason}* (below)"
            lines.append(f"| {name} | {ruling.status} | {why.replace('|', '\\|')} |")
        lines.append("")
        lines += [f"- *{name}*: {why}" for name, why in shared.items()]
        return "\n".join(lines) + "\n"

    def _same(self, a: str, b: str) -> bool:
        ra, rb = self.rulings.get(a), self.rulings.get(b)
        return ra is not None and rb is not None and ra.status == rb.status == "not-applicable" and ra.why == rb.why

    def __getitem__(self, key: str) -> Ruling:
        return self.rulings[key]

    def unclassified(self, contract: Contract) -> list[Clause]:
        return [c for c in contract.clauses if c.key not in self.rulings]

    def changed(self, contract: Contract) -> list[Clause]:
        """Clauses whose text is no longer the text they were classified on."""
        return [c for c in contract.clauses if c.key in self.rulings and self.rulings[c.key].digest != c.digest]

    def stale(self, contract: Contract) -> list[str]:
        """Rulings about clauses the contract no longer has."""
        keys = {c.key for c in contract.clauses}
        return [k for k in self.rulings if k not in keys]
