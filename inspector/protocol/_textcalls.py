"""Tool calls that local models print as *text*, found incrementally and turned into calls.

Shapes, as real models print them when the server does not parse them (``shape`` names the rule
``text-call:<shape>``):

``tool_call-tag``
    Hermes / Qwen 2.5 / Qwen 3: ``<tool_call>{"name": …, "arguments": …}</tool_call>`` — one or
    several objects (or a list) in one tag, single quotes, trailing commas, a missing closer.
``function-tag``
    Qwen3-coder: ``<function=NAME><parameter=KEY>\\nvalue\\n</parameter></function>``, inside
    ``<tool_call>`` or bare (with the orphan ``</tool_call>`` it often leaves), and Llama 3.1's
    ``<function=NAME>{json}</function>``.
``glm-tag``
    GLM 4.5+: ``<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>``.
``mistral``
    ``[TOOL_CALLS] [{"name": …, "arguments": …, "id": …}]`` (v0.3, list form, optional
    ``[/TOOL_CALLS]``) and ``[TOOL_CALLS]NAME[CALL_ID]id[ARGS]{…}`` (v11+ tokenizers, with the
    special tokens shown or stripped).
``python-tag``
    Llama 3.x: ``<|python_tag|>{"name": …, "parameters": …}`` (several separated by ``;``).
``deepseek``
    ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>…<｜tool▁sep｜>…<｜tool▁call▁end｜><｜tool▁calls▁end｜>``
    (V3/R1 with a fenced argument block, V3.1 with bare JSON).
``harmony``
    gpt-oss leftovers: ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>``;
    the ``analysis`` channel becomes thinking and ``final`` text when they lead the answer.
``json-list`` / ``fenced-json`` / ``bare-json``
    ``[{"name": …, "arguments": …}, …]``, a fenced ```` ```json ```` block, a bare object with
    ``name`` plus ``arguments`` / ``parameters`` (Llama 3.x), or ``{"type": "function", …}``.

A ``<think>`` block leading the answer is thinking, and a call inside it stays thinking.

A call is converted only when it names a tool the request offered (every call of a segment);
anything else is text, exactly as it arrived. Values are never changed: XML parameter values are
the text between the template's framing newlines, JSON goes through the value-preserving reader.
A call still open when the stream ends is a call (``unclosed``) unless the answer was cut by the
token limit — then it stays text.

``feed`` returns what can be released now: text that cannot be the start of a call goes out at
once; a possible start is held back only until it is decided. Correct for any split of the input.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from ._json import balanced_end, loads_lenient
from ._json import unclosed as unclosed_json

__all__ = ["Marker", "Segment", "TextCall", "TextCallDetector", "Thinking"]

#: Give up holding a would-be call after this many characters (it is released as text).
MAX_HOLD = 200_000


@dataclass(slots=True)
class TextCall:
    name: str
    arguments: Any  # as found: a dict, or a string still to be parsed
    raw: str  # the text the model printed (the whole segment, for calls that shared one)
    shape: str
    unclosed: bool = False  # the stream ended before the call's closing tag
    cut: bool = False  # the answer ended before the call was finished: never a call


@dataclass(slots=True)
class Thinking:
    text: str


@dataclass(slots=True)
class Marker:
    """Markup consumed without becoming content (``<think>``, a harmony header): worth a note."""

    raw: str
    what: str  # think-tag | harmony


Segment = str | TextCall | Thinking | Marker

_TC_OPEN, _TC_CLOSE = "<tool_call>", "</tool_call>"
_FN_CLOSE = "</function>"
_MISTRAL, _MISTRAL_CLOSE = "[TOOL_CALLS]", "[/TOOL_CALLS]"
_PY_TAG = "<|python_tag|>"
_DS_OPENERS = ("<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<|tool▁calls▁begin|>", "<|tool▁call▁begin|>")
_HARMONY_OPENERS = ("<|channel|>", "<|start|>")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_CALL_OPENERS = (_TC_OPEN, "<function=", _MISTRAL, _PY_TAG, *_DS_OPENERS, *_HARMONY_OPENERS, "```", "{", "[")
_LONGEST = max(len(o) for o in (*_CALL_OPENERS, _THINK_OPEN))

_START_CHAR = re.compile(r"[<\[`{]")
_IDENT = re.compile(r"[A-Za-z_][\w.\-]*")
_FN_HEAD = re.compile(r"<function=([^>\s]{1,128})>")
_FN_HEAD_PARTIAL = re.compile(r"<function=[^>\s]{0,128}$")
_PARAM_HEAD = re.compile(r"<parameter=([^>\s]{1,128})>")
_GLM_PAIR = re.compile(r"\s*<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)
_MISTRAL_V11 = re.compile(r"([A-Za-z_][\w.\-]*)(?:\[CALL_ID\]([^\[\]{}\s]*))?(\[ARGS\])?")
_DS_TOKEN = re.compile(r"<[｜|]tool[▁_](calls[▁_]begin|calls[▁_]end|call[▁_]begin|call[▁_]end|sep)[｜|]>")
_DS_EOS = re.compile(r"\s*<[｜|]end[▁_]of[▁_]sentence[｜|]>")
_FENCE_HEAD = re.compile(r"```([\w-]*)[ \t]*\n")
_HARMONY_RECIPIENT = re.compile(r"to=functions\.([^\s<]+)")
_HARMONY_BODY_ENDS = ("<|end|>", "<|return|>", "<|call|>", "<|start|>", "<|channel|>")
_LLAMA_EOT = re.compile(r"\s*<\|(eom_id|eot_id)\|>")

_WS = " \t\r\n"
#: How a bare JSON object or list can start and still be a call: decided at the first key.
_CALL_KEYS = ("name", "type", "function", "tool_calls")
#: Where each shape says which tool it calls, read from a call the answer ended inside of.
_CUT_NAMES = (
    re.compile(r"<function=([^>\s]{1,128})>"),
    re.compile(r"to=functions\.([^\s<]+)"),
    re.compile(r"^<tool_call>([A-Za-z_][\w.\-]*)\s*<arg_key>"),
    re.compile(r"^\[TOOL_CALLS\]\s*([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]|\[ARGS\]|\{)"),
    re.compile(r"<[｜|]tool[▁_]call[▁_]begin[｜|]>\s*(?:function\s*<[｜|]tool[▁_]sep[｜|]>\s*)?"
               r"([A-Za-z_][\w.\-]*)"),
    re.compile(r"[\"']name[\"']\s*:\s*[\"']([^\"'\\]{1,128})[\"']"),
)


@functools.lru_cache(maxsize=8)
def _opener_re(openers: tuple[str, ...]) -> re.Pattern[str]:
    """One pass finds the first opener (longest first where two start alike)."""
    return re.compile("|".join(re.escape(o) for o in sorted(openers, key=len, reverse=True)))


@functools.lru_cache(maxsize=64)
def _by_first(openers: tuple[str, ...], first: str) -> tuple[str, ...]:
    return tuple(o for o in openers if o[0] == first and len(o) > 1)


def _key_prefix(text: str, i: int) -> str | None:
    """At ``text[i]`` (after ``{``): "yes" if a call key starts here, "more" if undecided, None if not."""
    while i < len(text) and text[i] in _WS:
        i += 1
    if i == len(text):
        return "more"
    quote = text[i]
    if quote not in "\"'":
        return None
    rest = text[i + 1:]
    for key in _CALL_KEYS:
        word = key + quote
        if rest.startswith(word):
            return "yes"
        if word.startswith(rest):
            return "more"
    return None


def _starts_call_object(text: str, i: int) -> str | None:
    return _key_prefix(text, i + 1)


def _starts_call_list(text: str, i: int) -> str | None:
    j = i + 1
    while j < len(text) and text[j] in _WS:
        j += 1
    if j == len(text):
        return "more"
    return _starts_call_object(text, j) if text[j] == "{" else None


def _xml_start(text: str, i: int) -> str | None:
    """At ``<function=…``: "yes" if a Qwen3-coder call starts here, "more" if undecided, None if not."""
    head = _FN_HEAD.match(text, i)
    if head is None:
        return "more" if _FN_HEAD_PARTIAL.match(text, i) or _partial(text, i, ("<function=",)) else None
    j = _skip_ws(text, head.end())
    if text.startswith(("<parameter=", _FN_CLOSE, "{"), j):
        return "yes"
    return "more" if j == len(text) or _partial(text, j, ("<parameter=", _FN_CLOSE)) else None


_HARMONY_HEAD_TOKENS = ("<|start|>", "<|channel|>", "<|constrain|>")
_HARMONY_WORD = re.compile(r"[A-Za-z_][\w.\-]*")
_HARMONY_TO = re.compile(r"to=[^\s<]+")


def _harmony_header(text: str) -> tuple[str, int] | tuple[None, int]:
    """``("yes", index of <|message|>)``, ``("more", 0)`` while undecided, ``(None, 0)``: not harmony.

    The grammar: ``<|start|>ROLE``, ``<|channel|>CHANNEL``, `` to=functions.NAME``, `` json``,
    ``<|constrain|>json`` in any order, then ``<|message|>`` — anything else is prose.
    """
    i = 0
    while i < len(text):
        if text.startswith("<|message|>", i):
            return ("yes", i) if i else (None, 0)
        token = next((t for t in _HARMONY_HEAD_TOKENS if text.startswith(t, i)), None)
        if token is not None:
            i += len(token)
            word = _HARMONY_WORD.match(text, i)
            if word is None:
                return ("more", 0) if i == len(text) else (None, 0)
            i = word.end()
            continue
        if text.startswith(" ", i):
            i += 1
            rest = text[i:]
            if not rest or any(w.startswith(rest) for w in ("to=", "json", "<|")):
                return "more", 0
            to = _HARMONY_TO.match(text, i)
            if to:
                i = to.end()
            elif text.startswith("json", i):
                i += 4
            elif not text.startswith("<|", i):
                return None, 0
            continue
        if _partial(text, i, (*_HARMONY_HEAD_TOKENS, "<|message|>")):
            return "more", 0
        return None, 0
    return "more", 0


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _partial(text: str, i: int, words: tuple[str, ...]) -> bool:
    """``text[i:]`` is a proper prefix of one of ``words`` (the rest could still arrive)."""
    tail = text[i:]
    return any(w.startswith(tail) and w != tail for w in words)


# -- reading calls out of a segment's body ------------------------------------------------------
def _call_of(obj: Any, bare: bool = False) -> tuple[str, Any] | None:
    """``(name, arguments)`` of a call object. ``bare`` (no wrapper said "this is a call"): the
    arguments key is required, so prose like ``{"name": "Bash"}`` stays prose."""
    if not isinstance(obj, dict):
        return None
    name = obj.get("name")
    fn = obj.get("function")
    if isinstance(name, str):
        for key in ("arguments", "parameters", "input", "args"):
            if key in obj:
                return name, obj[key]
        if isinstance(fn, dict):
            return name, fn.get("arguments", fn.get("parameters", {}))
        return None if bare else (name, {})
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return fn["name"], fn.get("arguments", fn.get("parameters", {}))
    if isinstance(fn, str) and obj.get("type") == "function":
        return fn, obj.get("parameters", obj.get("arguments", {}))
    return None


def _calls_of(value: Any, bare: bool = False) -> list[tuple[str, Any]] | None:
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list) and "name" not in value:
        value = value["tool_calls"]
    if isinstance(value, dict):
        call = _call_of(value, bare)
        return [call] if call else None
    if isinstance(value, list) and value:
        calls = [_call_of(v, bare) for v in value]
        return calls if all(calls) else None  # type: ignore[return-value]
    return None


def _json_calls(text: str, bare: bool = False) -> list[tuple[str, Any]] | None:
    """A call, a list of calls, or several objects one after another (``;``/``,``/newlines)."""
    text = text.strip()
    found: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        if text[i] not in "{[":
            return None
        end = balanced_end(text, i)  # None: unbalanced (a stray quote): read the rest as one value
        loaded = loads_lenient(text[i:end])
        calls = _calls_of(loaded[0], bare) if loaded else None
        if not calls:
            return None
        found += calls
        if end is None:
            break
        i = end
        while i < len(text) and text[i] in _WS + ",;":
            i += 1
    return found or None


def _framed(value: str) -> str:
    """A Qwen3-coder parameter value: the template frames it with one newline on each side."""
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def _xml_calls(text: str) -> tuple[list[tuple[str, Any]], bool] | None:
    """``<function=NAME>`` blocks; closers may be missing at the end (the stream stopped).

    Also says whether the last function is left open (no ``</function>``): its parameters may not
    all be there yet — another could follow, or the last value go on. Whether that matters is the
    caller's to say (the text may have been ended by ``</tool_call>`` or the next call)."""
    calls: list[tuple[str, Any]] = []
    heads = list(_FN_HEAD.finditer(text))
    if not heads or text[:heads[0].start()].strip():
        return None
    open_value = False
    for k, head in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        body = text[head.end():end]
        close = body.find(_FN_CLOSE)
        if close >= 0:
            if body[close + len(_FN_CLOSE):].strip():
                return None
            body = body[:close]
        args = _xml_params(body)
        if args is None:
            return None
        calls.append((head.group(1), args))
        open_value = close < 0
    return calls, open_value


def _xml_params(body: str) -> dict[str, Any] | str | None:
    params = list(_PARAM_HEAD.finditer(body))
    if not params:
        stripped = body.strip()
        if not stripped:
            return {}
        if stripped[0] == "{":  # Llama 3.1's <function=NAME>{json}</function>
            return stripped
        return None
    if body[:params[0].start()].strip():
        return None
    args: dict[str, Any] = {}
    for k, param in enumerate(params):
        end = params[k + 1].start() if k + 1 < len(params) else len(body)
        value = body[param.end():end]
        close = value.rfind("</parameter>")
        if close >= 0:
            if value[close + len("</parameter>"):].strip():
                return None
            value = value[:close]
        args[param.group(1)] = _framed(value)
    return args


def _glm_calls(text: str) -> list[tuple[str, Any]] | None:
    m = _IDENT.match(text)
    if not m:
        return None
    args: dict[str, Any] = {}
    i = m.end()
    for pair in _GLM_PAIR.finditer(text, i):
        if pair.start() != i:
            return None
        args[pair.group(1).strip()] = pair.group(2)
        i = pair.end()
    return [(m.group(0), args)] if not text[i:].strip() else None


def _ds_kind(m: re.Match[str]) -> str:
    return m.group(1).replace("▁", "_")


def _deepseek_calls(text: str) -> list[tuple[str, Any]] | None:
    """The body between DeepSeek's call tokens (normalised to ``\\x00KIND\\x00``)."""
    norm = _DS_TOKEN.sub(lambda m: "\x00" + m.group(1).replace("▁", "_") + "\x00", text)
    calls: list[tuple[str, Any]] = []
    for chunk in norm.split("\x00call_begin\x00")[1:]:
        chunk = chunk.split("\x00call_end\x00")[0].split("\x00calls_end\x00")[0]
        pre, sep, post = chunk.partition("\x00sep\x00")
        if not sep:
            return None
        pre, post = pre.strip(), post.strip()
        if pre == "function" and "\n" in post:  # V3/R1: function<sep>NAME\n```json\n{…}\n```
            name, _, post = post.partition("\n")
        else:  # V3.1: NAME<sep>{…}
            name = pre
        post = post.strip()
        fence = _FENCE_HEAD.match(post)
        if fence:
            post = post[fence.end():]
            post = post[:post.rfind("```")] if post.rstrip().endswith("```") else post
        if not name.strip() or not post.strip().startswith("{"):
            return None
        calls.append((name.strip(), post.strip()))
    return calls or None


class TextCallDetector:
    """Feed text as it arrives; get back text, calls, thinking, as soon as each is decided."""

    def __init__(self, tool_names: set[str] | list[str] | tuple[str, ...] = ()) -> None:
        self.names = set(tool_names)
        self.buf = ""
        self.calls = 0
        #: Unclosed calls left as text because the answer was cut at the token limit.
        self.left_open = 0
        self._mode = "text"  # text | think | harmony-think | harmony-text
        self._started = False  # something other than whitespace was released
        self._harmony = False  # the last thing released was harmony markup: more headers may follow
        self._truncated = False

    def passes(self, text: str) -> bool:
        """``feed(text)`` would hand ``text`` back as it came and change nothing: nothing held, an answer
        under way, and nothing in it can begin a call (every opener begins with one of < [ ` {; none is
        looked for mid-answer when no tool was offered). The common token, told in one C-level scan."""
        return (not self.buf and self._mode == "text" and self._started and not self._harmony
                and (not self.names or _START_CHAR.search(text) is None))

    def feed(self, text: str) -> list[Segment]:
        if not text:
            return []
        if not self.buf and self._mode == "text":
            # Nothing held, and nothing in it can begin a call or markup (every opener begins with
            # one of < [ ` {; none is looked for mid-answer when no tool was offered): released as
            # it came — the common token, told in one C-level scan.
            if self._started and not self._harmony:
                if not self.names or _START_CHAR.search(text) is None:
                    return [text]
            elif _START_CHAR.search(text) is None:
                out: list[Segment] = []
                self._release(out, text)
                return out
        self.buf += text
        return self._scan(final=False)

    def flush(self, *, truncated: bool = False) -> list[Segment]:
        """End of the answer. ``truncated``: it was cut at the token limit (open calls stay text)."""
        self._truncated = truncated
        out = self._scan(final=True)
        if self.buf:
            out.append(self.buf if self._mode in ("text", "harmony-text") else Thinking(self.buf))
            self.buf = ""
        return out

    # -- the scan ---------------------------------------------------------------------------------
    def _openers(self) -> tuple[str, ...]:
        lead = not self._started or self._harmony
        if self.names:
            return (*_CALL_OPENERS, _THINK_OPEN) if not self._started else _CALL_OPENERS
        if lead:  # no tools offered: only what leads an answer (thinking, harmony channels)
            return (_THINK_OPEN, *_HARMONY_OPENERS) if not self._started else _HARMONY_OPENERS
        return ()

    def _scan(self, *, final: bool) -> list[Segment]:
        out: list[Segment] = []
        while self.buf:
            if self._mode != "text":
                if not self._body(out, final=final):
                    break
                continue
            openers = self._openers()
            found = _opener_re(openers).search(self.buf) if openers else None
            start = found.start() if found else None
            if start is None:
                keep = 0 if final else self._partial_opener_suffix(openers)
                self._release(out, self.buf[: len(self.buf) - keep])
                self.buf = self.buf[len(self.buf) - keep:]
                break
            if start:
                self._release(out, self.buf[:start])
                self.buf = self.buf[start:]
                continue  # what may open next depends on what was released
            if not final and len(self.buf) < _LONGEST and any(
                    len(o) > len(self.buf) and o.startswith(self.buf) for o in _by_first(openers, self.buf[0])):
                break  # "[TOOL" could still be "[TOOL_CALLS]": wait
            decided = self._decide(final=final)
            if decided is None:  # undecided: hold the rest
                if len(self.buf) > MAX_HOLD:
                    self._release(out, self.buf)
                    self.buf = ""
                break
            consumed, items = decided
            self.buf = self.buf[consumed:]
            for item in items:
                self._emit(out, item)
        merged: list[Segment] = []
        for item in out:
            if isinstance(item, str) and merged and isinstance(merged[-1], str):
                merged[-1] += item
            elif item != "":
                merged.append(item)
        return merged

    def _partial_opener_suffix(self, openers: tuple[str, ...]) -> int:
        """Length of the longest buffer suffix that is a proper prefix of an opener."""
        buf = self.buf
        for m in _START_CHAR.finditer(buf, max(0, len(buf) - _LONGEST)):  # openers start with < [ ` {
            tail = buf[m.start():]
            if any(o.startswith(tail) and o != tail for o in _by_first(openers, tail[0])):
                return len(tail)
        return 0

    def _release(self, out: list[Segment], text: str) -> None:
        if text:
            out.append(text)
            if text.strip():
                self._started = True
                self._harmony = False

    def _emit(self, out: list[Segment], item: Segment) -> None:
        if isinstance(item, str):
            self._release(out, item)
            return
        out.append(item)
        self._started = True
        if isinstance(item, TextCall):
            self.calls += 1
            self._harmony = item.shape == "harmony"

    def _body(self, out: list[Segment], *, final: bool) -> bool:
        """Inside ``<think>`` or a harmony channel: release until its end. False: wait for more."""
        ends = (_THINK_CLOSE,) if self._mode == "think" else _HARMONY_BODY_ENDS
        as_thinking = self._mode in ("think", "harmony-think")
        found = [(i, e) for e in ends if (i := self.buf.find(e)) >= 0]
        if not found:
            keep = 0
            if not final:
                keep = next((n for n in range(min(len(self.buf), 12), 0, -1)
                             if _partial(self.buf, len(self.buf) - n, ends)), 0)
            piece, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep:]
            if piece:
                out.append(Thinking(piece) if as_thinking else piece)
                self._started = True
            return False
        i, end = min(found)
        if i:
            out.append(Thinking(self.buf[:i]) if as_thinking else self.buf[:i])
            self._started = True
        consumed = i if end in ("<|start|>", "<|channel|>") else i + len(end)
        self.buf = self.buf[consumed:]
        self._mode = "text"
        self._harmony = self._harmony or end != _THINK_CLOSE
        return True

    # -- decisions at an opener: (characters consumed, segments), or None to wait ----------------
    def _decide(self, *, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        if buf.startswith(_THINK_OPEN):
            self._mode = "think"
            return len(_THINK_OPEN), [Marker(_THINK_OPEN, "think-tag")]
        if buf.startswith(_TC_OPEN):
            return self._tool_call_tag(final)
        if buf.startswith("<function="):
            return self._function_tag(final)
        if buf.startswith(_MISTRAL):
            return self._mistral(final)
        if buf.startswith(_PY_TAG):
            return self._python_tag(final)
        if buf.startswith(_DS_OPENERS):
            return self._deepseek(final)
        if buf.startswith(_HARMONY_OPENERS):
            return self._harmony_segment(final)
        if buf.startswith("```"):
            return self._fenced(final)
        if buf.startswith("["):
            return self._json_list(final)
        return self._bare_json(final)

    def _segment(self, found: list[tuple[str, Any]] | None, raw: str, shape: str,
                 unclosed: bool = False, *, at_end: bool = False, open_value: bool = False) -> list[Segment]:
        """The calls, if every one names an offered tool; else the text as printed.

        ``unclosed``: the call's wrapper has no closer. ``at_end``: and the answer ended there —
        then the last call is cut (never a call) when the answer hit the token limit, or when
        ``open_value``: its arguments may not all be there (a value, or a list of key/value
        markup, never closed). A JSON value that closed is whole, whatever wrapper is missing."""
        if not found or any(not isinstance(n, str) or n not in self.names for n, _ in found):
            return [raw]
        calls: list[Segment] = [TextCall(name, args, raw, shape, unclosed) for name, args in found]
        last_args = found[-1][1]
        open_value = open_value or (isinstance(last_args, str) and unclosed_json(last_args))
        if at_end and (open_value or (unclosed and self._truncated)):
            self.left_open += 1
            last = calls[-1]
            assert isinstance(last, TextCall)
            last.cut = True
        return calls

    def _open_call(self, buf: str, shape: str) -> list[Segment]:
        """The answer ended inside what opened as a call (its JSON never closed, its markup cut):
        a cut call when it already names an offered tool, else the text as printed."""
        for pattern in _CUT_NAMES:
            for m in pattern.finditer(buf):
                name = m.group(1)
                if name not in self.names and name.endswith("json") and name[:-4] in self.names:
                    name = name[:-4]  # harmony with "<|constrain|>" stripped
                if name in self.names:
                    self.left_open += 1
                    return [TextCall(name, None, buf, shape, unclosed=True, cut=True)]
        return [buf]

    def _tool_call_tag(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf, n = self.buf, len(_TC_OPEN)
        i = _skip_ws(buf, n)
        if i == len(buf):
            return None if not final else (len(buf), [buf])
        head = buf[i]
        if head in "{[":
            return self._tool_call_json(final, i)
        if buf.startswith("<function=", i) or _partial(buf, i, ("<function=",)):
            return self._tool_call_xml(final, i)
        ident = _IDENT.match(buf, n)  # GLM: <tool_call>NAME<arg_key>… (no space after the tag)
        if ident:
            j = _skip_ws(buf, ident.end())
            if buf.startswith(("<arg_key>", _TC_CLOSE), j):
                return self._tool_call_glm(final)
            if j == len(buf) or _partial(buf, j, ("<arg_key>", _TC_CLOSE)):
                return None if not final else (len(buf), self._open_call(buf, "glm-tag"))
        return n, [_TC_OPEN]  # a mention in prose, not a call: text at once

    def _tool_call_json(self, final: bool, i: int) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        values: list[str] = []
        j = i
        while True:
            end = balanced_end(buf, j)
            if end is None:
                break
            values.append(buf[j:end])
            j = end
            while j < len(buf) and buf[j] in _WS + ",;":
                j += 1
            if buf.startswith(_TC_CLOSE, j):
                raw = buf[: j + len(_TC_CLOSE)]
                return len(raw), self._segment(_json_calls("\n".join(values)), raw, "tool_call-tag")
            if buf.startswith(_TC_OPEN, j):  # the model forgot the closer between two calls
                return j, self._segment(_json_calls("\n".join(values)), buf[:j], "tool_call-tag", True)
            if j == len(buf) or _partial(buf, j, (_TC_CLOSE, _TC_OPEN)):
                if not final:
                    return None
                return len(buf), self._segment(_json_calls("\n".join(values)), buf, "tool_call-tag", True,
                                               at_end=True)
            if buf[j] not in "{[":
                break
        close = buf.find(_TC_CLOSE, i)  # not balanced JSON: what lies between the tags
        if close >= 0:
            raw = buf[: close + len(_TC_CLOSE)]
            return len(raw), self._segment(_json_calls(buf[i:close]), raw, "tool_call-tag")
        if not final:
            return None
        return len(buf), self._open_call(buf, "tool_call-tag")  # unbalanced JSON, never closed

    def _tool_call_xml(self, final: bool, i: int) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        starts = _xml_start(buf, i)
        if starts != "yes":
            if starts == "more" and not final:
                return None
            return len(_TC_OPEN), [_TC_OPEN]
        close = buf.find(_TC_CLOSE, i)
        reopen = buf.find(_TC_OPEN, i)
        if reopen >= 0 and (close < 0 or reopen < close):
            return reopen, self._xml_segment(buf[i:reopen], buf[:reopen], unclosed=True)
        if close >= 0:
            raw = buf[: close + len(_TC_CLOSE)]
            return len(raw), self._xml_segment(buf[i:close], raw)
        if not final:
            return None
        return len(buf), self._xml_segment(buf[i:], buf, unclosed=True, at_end=True)

    def _xml_segment(self, body: str, raw: str, *, unclosed: bool = False, at_end: bool = False) -> list[Segment]:
        xml = _xml_calls(body)
        if xml is None:
            return self._open_call(raw, "function-tag") if at_end else [raw]
        return self._segment(xml[0], raw, "function-tag", unclosed, at_end=at_end, open_value=at_end and xml[1])

    def _tool_call_glm(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        close = buf.find(_TC_CLOSE)
        if close < 0:
            if not final:
                return None
            found = _glm_calls(buf[len(_TC_OPEN):])
            if found is None:
                return len(buf), self._open_call(buf, "glm-tag")
            # Key/value pairs, like Qwen3-coder's parameters: another could still follow.
            return len(buf), self._segment(found, buf, "glm-tag", True, at_end=True, open_value=True)
        raw = buf[: close + len(_TC_CLOSE)]
        return len(raw), self._segment(_glm_calls(buf[len(_TC_OPEN):close]), raw, "glm-tag")

    def _function_tag(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        starts = _xml_start(buf, 0)
        if starts != "yes":
            if starts == "more" and not final:
                return None
            head = _FN_HEAD.match(buf)
            text = head.group(0) if head else "<function="
            return len(text), [text]
        head = _FN_HEAD.match(buf)
        assert head is not None
        i = _skip_ws(buf, head.end())
        if i < len(buf) and buf[i] == "{":  # Llama 3.1: <function=NAME>{json}</function>
            end = balanced_end(buf, i)
            if end is None:
                return None if not final else (len(buf), self._open_call(buf, "function-tag"))
            j = _skip_ws(buf, end)
            if not buf.startswith(_FN_CLOSE, j):
                if not final and _partial(buf, j, (_FN_CLOSE,)):
                    return None
                return len(head.group(0)), [head.group(0)]
            raw = buf[: j + len(_FN_CLOSE)]
            return len(raw), self._segment([(head.group(1), buf[i:end])], raw, "function-tag")
        close = buf.find(_FN_CLOSE, head.end())
        if close < 0:
            if not final:
                return None
            return len(buf), self._xml_segment(buf, buf, unclosed=True, at_end=True)
        end = close + len(_FN_CLOSE)
        j = _skip_ws(buf, end)  # Qwen3-coder often drops <tool_call> but keeps </tool_call>
        if buf.startswith(_TC_CLOSE, j):
            end = j + len(_TC_CLOSE)
        elif not final and (j == len(buf) or _partial(buf, j, (_TC_CLOSE,))):
            return None
        raw = buf[:end]
        return len(raw), self._xml_segment(buf[:close + len(_FN_CLOSE)], raw)

    def _mistral(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        i = _skip_ws(buf, len(_MISTRAL))
        if i == len(buf):
            return None if not final else (len(buf), self._open_call(buf, "mistral"))
        if buf[i] in "[{":
            end = balanced_end(buf, i)
            if end is None:
                return None if not final else (len(buf), self._open_call(buf, "mistral"))
            found = _json_calls(buf[i:end])
            args_end = end
        else:
            m = _MISTRAL_V11.match(buf, i)
            if m is None:
                return len(_MISTRAL), [_MISTRAL]
            j = _skip_ws(buf, m.end())
            if j == len(buf) or _partial(buf, m.end(), ("[CALL_ID]", "[ARGS]")):
                return None if not final else (len(buf), self._open_call(buf, "mistral"))
            if buf[j] != "{":
                return len(_MISTRAL), [_MISTRAL]
            end = balanced_end(buf, j)
            if end is None:
                return None if not final else (len(buf), self._open_call(buf, "mistral"))
            found = [(m.group(1), buf[j:end])]
            args_end = end
        j = _skip_ws(buf, args_end)
        for closer in (_MISTRAL_CLOSE, "</s>"):
            if buf.startswith(closer, j):
                args_end = j + len(closer)
                j = _skip_ws(buf, args_end)
            elif not final and (j == len(buf) or _partial(buf, j, (_MISTRAL_CLOSE, "</s>"))):
                return None
        raw = buf[:args_end]
        return len(raw), self._segment(found, raw, "mistral")

    def _python_tag(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        i = _skip_ws(buf, len(_PY_TAG))
        values: list[str] = []
        while True:
            if i == len(buf):
                if not final:
                    return None
                break
            if buf[i] != "{":
                break
            end = balanced_end(buf, i)
            if end is None:
                return None if not final else (len(buf), self._open_call(buf, "python-tag"))
            values.append(buf[i:end])
            j = _skip_ws(buf, end)
            if j == len(buf) and not final:
                return None  # a ";" and another call may follow
            if j < len(buf) and buf[j] == ";":
                i = _skip_ws(buf, j + 1)
                continue
            i = end
            break
        if not values:
            return len(_PY_TAG), [_PY_TAG]
        eot = _LLAMA_EOT.match(buf, i)
        if eot:
            i = eot.end()
        elif not final and _partial(buf, _skip_ws(buf, i), ("<|eom_id|>", "<|eot_id|>")):
            return None
        raw = buf[:i]
        return len(raw), self._segment(_json_calls("\n".join(values)), raw, "python-tag")

    def _deepseek(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        first = _DS_TOKEN.match(buf)
        assert first is not None
        outer = _ds_kind(first) == "calls_begin"
        if outer:  # the next token must open a call: anything else is a mention
            i = _skip_ws(buf, first.end())
            nxt = _DS_TOKEN.match(buf, i)
            if nxt is None or _ds_kind(nxt) != "call_begin":
                if not final and (i == len(buf) or _partial(buf, i, _DS_OPENERS[1::2])):
                    return None
                return first.end(), [first.group(0)]
        want = "calls_end" if outer else "call_end"
        close = next((m for m in _DS_TOKEN.finditer(buf, first.end()) if _ds_kind(m) == want), None)
        if close is None:
            if not final:
                return None
            found = _deepseek_calls(buf)
            if found is None:
                return len(buf), self._open_call(buf, "deepseek")
            return len(buf), self._segment(found, buf, "deepseek", True, at_end=True)
        end = close.end()
        eos = _DS_EOS.match(buf, end)
        if eos:
            end = eos.end()
        elif not final and _partial(buf, _skip_ws(buf, end), ("<｜end▁of▁sentence｜>",)):
            return None
        raw = buf[:end]
        return len(raw), self._segment(_deepseek_calls(raw), raw, "deepseek")

    def _harmony_segment(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        state, msg = _harmony_header(buf[:400])
        if state != "yes":
            return None if state == "more" and not final else (2, [buf[:2]])
        header = buf[:msg]
        body = msg + len("<|message|>")
        recipient = _HARMONY_RECIPIENT.search(header)
        if recipient:
            name = recipient.group(1)
            if name not in self.names and name.endswith("json") and name[:-4] in self.names:
                name = name[:-4]  # "<|constrain|>" stripped: "to=functions.Writejson"
            i = _skip_ws(buf, body)
            if i == len(buf):
                return None if not final else (len(buf), self._open_call(buf, "harmony"))
            if buf[i] != "{":
                return 2, [buf[:2]]
            end = balanced_end(buf, i)
            if end is None:
                return None if not final else (len(buf), self._open_call(buf, "harmony"))
            j = _skip_ws(buf, end)
            if buf.startswith("<|call|>", j):
                raw_end = j + len("<|call|>")
            elif not final and (j == len(buf) or _partial(buf, j, ("<|call|>",))):
                return None
            else:
                raw_end = end
            raw = buf[:raw_end]
            return raw_end, self._segment([(name, buf[i:end])], raw, "harmony")
        if self._started and not self._harmony:
            return 2, [buf[:2]]  # a channel header in the middle of prose: a mention
        channel = header.rpartition("<|channel|>")[2].split(" ")[0] if "<|channel|>" in header else ""
        self._mode = "harmony-think" if channel == "analysis" else "harmony-text"
        self._harmony = True
        return body, [Marker(buf[:body], "harmony")]

    def _fenced(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        head = _FENCE_HEAD.match(buf)
        if head is None:
            if not final and re.fullmatch(r"```[\w-]*[ \t]*", buf):
                return None
            return 3, ["```"]
        i = _skip_ws(buf, head.end())
        if i == len(buf):
            return None if not final else (3, ["```"])
        if buf[i] not in "{[":
            return 3, ["```"]  # a fence that is not a JSON call: plain text
        starts = _starts_call_object(buf, i) if buf[i] == "{" else _starts_call_list(buf, i)
        if starts != "yes":
            return None if starts == "more" and not final else (3, ["```"])
        end = balanced_end(buf, i)
        if end is None:
            return None if not final else (3, ["```"])
        j = _skip_ws(buf, end)
        if not buf.startswith("```", j):
            if not final and _partial(buf, j, ("```",)):
                return None
            return 3, ["```"]
        raw = buf[: j + 3]
        return len(raw), self._segment(_json_calls(buf[i:end], bare=True), raw, "fenced-json")

    def _json_list(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        starts = _starts_call_list(buf, 0)
        if starts != "yes":
            return None if starts == "more" and not final else (1, ["["])
        end = balanced_end(buf, 0)
        if end is None:
            return None if not final else (len(buf), self._open_call(buf, "json-list"))
        raw = buf[:end]
        return end, self._segment(_json_calls(raw, bare=True), raw, "json-list")

    def _bare_json(self, final: bool) -> tuple[int, list[Segment]] | None:
        buf = self.buf
        starts = _starts_call_object(buf, 0)
        if starts != "yes":
            return None if starts == "more" and not final else (1, ["{"])
        end = balanced_end(buf, 0)
        if end is None:
            return None if not final else (len(buf), self._open_call(buf, "bare-json"))
        found = _json_calls(buf[:end], bare=True)
        if not found or any(name not in self.names for name, _ in found):
            return end, [buf[:end]]  # not a call: text at once, whatever follows
        while True:  # Llama 3.x prints several calls separated by ";"
            j = _skip_ws(buf, end)
            if j < len(buf) and buf[j] != ";":
                break
            k = _skip_ws(buf, j + 1)
            if j == len(buf) or k == len(buf):
                if final:
                    break
                return None
            starts = _starts_call_object(buf, k) if buf[k] == "{" else None
            if starts == "more" and not final:
                return None
            nxt = balanced_end(buf, k) if starts == "yes" else None
            if nxt is None and starts == "yes" and not final:
                return None
            more = _json_calls(buf[k:nxt], bare=True) if nxt is not None else None
            if nxt is None or not more:
                break
            found += more
            end = nxt
        raw = buf[:end]
        return end, self._segment(found, raw, "bare-json")
