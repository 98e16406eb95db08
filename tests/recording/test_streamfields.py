"""Issue 19 #13: a tool's ``password`` streamed in pieces (split over events, whole in none) is
redacted on disk by its name, whatever its value — the weak ``hunter2`` included."""

from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.recording import RecordingStore, list_sessions
from inspector.recording._streamfields import MAX_CARRY, FieldLexer, StreamFields
from inspector.testing.profiles import examples

INPUT = {"user": "me", "password": "hun\"ter\\2", "nested": {"db_token": "t0k", "list": ["password", 1]},
         "api_key": None, "count": 3, "password_hint": "a pet"}
REDACTED = {"user": "me", "password": "[redacted:secret-field]",
            "nested": {"db_token": "[redacted:secret-field]", "list": ["password", 1]},
            "api_key": None, "count": 3, "password_hint": "a pet"}


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(orjson.dumps(INPUT))), max_size=6))
def test_any_split_of_a_streamed_input_joins_into_the_input_redacted(cuts):
    text = orjson.dumps(INPUT).decode()
    bounds = [0, *sorted(cuts), len(text)]
    lexer = FieldLexer()
    found = 0
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        piece, began = lexer.feed(text[a:b])
        out.append(piece)
        found += began
    assert orjson.loads("".join(out)) == REDACTED
    assert found == 2


def anthropic_event(index: int, piece: str) -> str:
    return "event: content_block_delta\ndata: " + orjson.dumps(
        {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}
    ).decode() + "\n\n"


def openai_event(piece: str) -> str:
    return "data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": piece}}]}}]}).decode() + "\n\n"


def test_events_cut_anywhere_between_chunks_never_write_the_value():
    pieces = ['{"user": "me", "pass', 'word": "hun', 'ter2"}']
    for event in (lambda p: anthropic_event(1, p), openai_event):
        stream = "".join(event(p) for p in pieces)
        for cut in range(len(stream)):
            fields = StreamFields()
            found: Counter[str] = Counter()
            written = [fields.feed(stream[:cut], found), fields.feed(stream[cut:], found), fields.flush()]
            assert "hun" not in "".join(written) and "ter2" not in "".join(written), cut
            assert found == {"secret-field": 1}
            joined = "".join(orjson.loads(line.removeprefix("data: "))["choices"][0]["delta"]["tool_calls"][0][
                "function"]["arguments"] if "choices" in line else orjson.loads(line.removeprefix("data: "))[
                "delta"]["partial_json"] for line in "".join(written).splitlines() if line.startswith("data: "))
            assert orjson.loads(joined) == {"user": "me", "password": "[redacted:secret-field]"}


def test_whole_lines_pass_at_once_an_unfinished_one_waits_for_its_end():
    fields = StreamFields()
    line = 'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"pa'
    assert fields.feed(line) == "event: content_block_delta\n"
    assert fields.feed('ss"}}\n\n') == line[27:] + 'ss"}}\n\n' and fields.flush() == ""
    big = "x" * (MAX_CARRY + 1)
    assert fields.feed(big) == big, "a body that is no stream of lines is not held"


def test_the_writer_keeps_a_streamed_password_off_disk(tmp_path):
    store = RecordingStore(tmp_path)
    w = store.exchange(session_id="s-streamed", id_source="header", client="c", kind="messages", meta={})
    assert w is not None
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"{}"}, None)
    w.response_head("client", 200, [("content-type", "text/event-stream")])
    for piece in ('{"user": "me", "pass', 'word": "wk7q', 'zx"}'):  # "wk7qzx": weak, short, no pattern
        event = anthropic_event(0, piece)
        w.chunk("client", event[:30].encode())  # every event cut in two chunks
        w.chunk("client", event[30:].encode())
    w.finish({"tool_calls": [{"name": "Login", "id": "t", "input": {"user": "me", "password": "wk7qzx"}}]})
    disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"wk7q" not in disk and b"zx\\" not in disk
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert ex.meta["redacted"] == {"field:password": 1, "secret-field": 1}
    assert ex.meta["chunks"]["client"]["count"] == 7
