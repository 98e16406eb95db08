from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import LineDecoder, ServerSentEvent, SSEDecoder
from inspector.testing.profiles import examples

FIXTURES = sorted((Path(__file__).parent.parent / "data" / "anthropic").glob("*.[ts][xs][te]"))


def decode_all(decoder, chunks):
    out = []
    for chunk in chunks:
        out += decoder.decode(chunk)
    return out + decoder.flush()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


@pytest.mark.parametrize("raw, expected", [
    (b"data: hi\n\n", [ServerSentEvent(data="hi")]),
    (b"event: ping\ndata: {}\n\n", [ServerSentEvent(event="ping", data="{}")]),
    (b"data: a\ndata: b\n\n", [ServerSentEvent(data="a\nb")]),
    (b"data:no-space\r\n\r\n", [ServerSentEvent(data="no-space")]),
    (b"data: cr\r\rdata: x\r\n\r\n", [ServerSentEvent(data="cr"), ServerSentEvent(data="x")]),
    (b"data:  two spaces\n\n", [ServerSentEvent(data=" two spaces")]),
    (b": comment\ndata: x\n\n", [ServerSentEvent(data="x")]),
    (b"event: only-event\n\n", []),
    (b"id: 7\nretry: 150\ndata: x\n\n", [ServerSentEvent(data="x", id="7", retry=150)]),
    (b"data: unterminated", [ServerSentEvent(data="unterminated")]),
    (b"data: caf\xc3\xa9\n\n", [ServerSentEvent(data="café")]),
])
def test_sse_table(raw, expected):
    assert decode_all(SSEDecoder(), [raw]) == expected
    # byte by byte gives the same events
    assert decode_all(SSEDecoder(), [raw[i:i + 1] for i in range(len(raw))]) == expected


def test_sse_comments_are_reported_when_asked():
    events = decode_all(SSEDecoder(comments=True), [b": keep-alive\n\ndata: x\n\n"])
    assert events == [ServerSentEvent(comment="keep-alive"), ServerSentEvent(data="x")]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_real_anthropic_streams_decode_to_typed_events(path):
    events = decode_all(SSEDecoder(), [path.read_bytes()])
    assert events[0].event == "message_start"
    assert all(e.event for e in events)
    import orjson
    for e in events:
        assert orjson.loads(e.data)["type"] == e.event


@settings(max_examples=examples(60), deadline=None)
@given(st.sampled_from(FIXTURES), st.lists(st.integers(min_value=0), max_size=12))
def test_sse_any_split_same_events(path, cuts):
    data = path.read_bytes()
    assert decode_all(SSEDecoder(), split_at(data, cuts)) == decode_all(SSEDecoder(), [data])


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                                 max_size=20), max_size=8),
       st.sampled_from([b"\n", b"\r\n", b"\r"]), st.lists(st.integers(min_value=0), max_size=8))
def test_lines_any_split_any_newline(lines, newline, cuts):
    data = newline.join(line.encode() for line in lines) + newline
    expected = [line.encode() for line in lines if line.encode().strip()]
    assert decode_all(LineDecoder(), split_at(data, cuts)) == expected


def test_line_decoder_counts_blank_lines_and_keeps_the_tail():
    dec = LineDecoder()
    assert dec.decode(b'{"a":1}\n\n\n{"b"') == [b'{"a":1}']
    assert dec.blank_lines == 2
    assert dec.flush() == [b'{"b"']
