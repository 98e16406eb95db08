"""Format 2: requests stored as references to the pieces a session keeps once (SCHEMA.md, "Pieces")."""

import orjson
import pytest

from inspector.protocol import ollama_request, parse_request
from inspector.recording import SCHEMA, RecordingStore, list_sessions
from inspector.recording._pieces import LONG, PIECES_FILE
from inspector.recording._scan import scan_paths
from inspector.testing.samples import samples_dir
from inspector.testing.synth import growing_session

KEY = "sk-ant-api03-" + "Q" * 40


def _record(root, bodies, *, backend=True, store=None):
    store = store or RecordingStore(root)
    sent = []
    for body in bodies:
        raw = orjson.dumps(body)
        translated = ollama_request(parse_request(raw), model="qwen3:8b") if backend else None
        sent.append((body, translated))
        w = store.exchange(session_id="5e55a0a0-1111-4222-8333-444455556666", id_source="header",
                           client="claude-cli/2.1.328", kind="messages", meta={})
        w.requests({"method": "POST", "url": "http://127.0.0.1:4000/v1/messages", "path": "/v1/messages",
                    "headers": [("content-type", "application/json"), ("x-api-key", KEY)],
                    "body": raw, "content_type": "application/json"},
                   {"method": "POST", "url": "http://127.0.0.1:11434/api/chat", "path": "/api/chat",
                    "headers": [("content-type", "application/json")], "body": orjson.dumps(translated),
                    "content_type": "application/json"} if backend else None)
        w.response_head("client", 200, [("content-type", "text/event-stream")])
        w.chunk("client", b"event: ping\ndata: {}\n\n")
        w.finish({"form": "ollama"})
    (session,) = list_sessions(root)
    return session, sent


def test_a_growing_session_costs_what_is_new_and_reads_back_whole(tmp_path):
    bodies = growing_session(40)
    session, sent = _record(tmp_path, bodies)
    assert session.meta["schema"] == SCHEMA == "inspector.recording/2"
    exchanges = session.exchanges()
    for ex, (client, backend) in zip(exchanges, sent, strict=True):
        assert ex.request_json() == client and ex.request_body() == orjson.dumps(client)
        assert ex.request_json("backend") == backend
        assert ex.client_request["body"]["encoding"] == "json"  # a reader gets whole requests, as before
        assert not ex.problems, ex.problems
    stored = sum(p.stat().st_size for p in session.path.rglob("*") if p.name.endswith("request.json")
                 or p.name == PIECES_FILE)
    total = sum(len(orjson.dumps(b)) for b in bodies)
    assert stored <= 0.10 * total, f"{stored} bytes of requests on disk for {total} sent"
    # Each request file is a skeleton: its lists are references.
    on_disk = orjson.loads((exchanges[-1].path / "client-request.json").read_bytes())
    assert on_disk["body"]["encoding"] == "pieces" and set(on_disk["body"]["json"]["messages"]) == {"$list"}


def test_what_a_turn_adds_is_what_is_written(tmp_path):
    """The cache mark moves each turn: the list node of a turn holds the items after the longest
    list already stored (the previous turn's, less its marked last message), never the history."""
    bodies = growing_session(6)
    store = RecordingStore(tmp_path)
    sizes = []
    for body in bodies:
        _record(tmp_path, [body], backend=False, store=store)
        sizes.append((tmp_path / next(iter(store.pieces)).name / PIECES_FILE).stat().st_size)
    growth = [b - a for a, b in zip(sizes, sizes[1:])]
    turn = len(orjson.dumps(bodies[2])) - len(orjson.dumps(bodies[1]))
    assert all(g < 3 * turn for g in growth), (growth, turn)
    assert sizes[0] > 15 * turn  # the first request: everything is new


def test_the_shipped_samples_stay_format_1_and_read_as_they_are():
    for session in list_sessions(samples_dir()):
        assert session.meta["schema"] == "inspector.recording/1"
        assert not (session.path / PIECES_FILE).exists()
        for ex in session.exchanges():
            assert ex.schema_problem is None
            raw = orjson.loads((ex.path / "client-request.json").read_bytes())
            assert raw["body"]["encoding"] == "json" and ex.request_json() == raw["body"]["json"]


def test_pieces_are_on_disk_before_the_request_that_refers_to_them(tmp_path):
    """What a killed sidecar leaves: the requests written so far read back whole; a piece line cut
    short is said, never fatal, and refers to nothing written."""
    bodies = growing_session(3)
    session, sent = _record(tmp_path, bodies)
    pieces = session.path / PIECES_FILE
    with open(pieces, "ab") as f:
        f.write(b'{"id":"0123456789abcdef0123456789abcdef","v":{"prev":nu')  # a write cut short
    (session,) = list_sessions(tmp_path)
    for ex, (client, _) in zip(session.exchanges(), sent, strict=True):
        assert ex.request_json() == client
        assert any("a line that is not a piece" in p for p in ex.problems)


def test_a_missing_piece_is_said_not_fatal(tmp_path):
    session, _ = _record(tmp_path, growing_session(2))
    lines = (session.path / PIECES_FILE).read_bytes().splitlines(keepends=True)
    (session.path / PIECES_FILE).write_bytes(b"".join(lines[1:]))
    (session,) = list_sessions(tmp_path)
    ex = session.exchanges()[0]
    assert isinstance(ex.request_json(), dict)
    assert any("is not in pieces.jsonl" in p for p in ex.problems)


def test_an_object_that_looks_like_a_reference_is_kept_as_it_was(tmp_path):
    body = growing_session(1)[0]
    body["messages"].append({"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {"$p": "not a piece", "x": [{"$list": "y"}]}},
        {"type": "text", "text": {"$lit": 1}}]})
    body["metadata"] = {"$p": "top level"}
    session, [(client, _)] = _record(tmp_path, [body], backend=False)
    assert session.exchanges()[0].request_json() == client


def test_secrets_are_redacted_before_the_request_is_split(tmp_path):
    """A secret-named field's value, long enough to be a piece of its own, is judged by its name
    in the whole request: redacted before it is split off. A key inside a long tool result too."""
    body = growing_session(1)[0]
    password = "correct horse battery staple " * 20
    assert len(password) >= LONG
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "Login",
                                           "input": {"user": "me", "password": password}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9",
                                      "content": "ok\n" * 100 + f"ANTHROPIC_API_KEY={KEY}\n" + "more\n" * 100}]}]
    session, _ = _record(tmp_path, [body])
    disk = b"".join(p.read_bytes() for p in session.path.rglob("*") if p.is_file())
    assert b"horse battery" not in disk and KEY.encode() not in disk
    ex = session.exchanges()[0]
    assert ex.meta["redacted"]["field:password"] >= 1 and ex.meta["redacted"]["anthropic-key"] >= 1
    assert scan_paths([tmp_path]).safe


def test_scan_reads_a_request_whole_with_its_pieces(tmp_path):
    """A recording written by something else, whose secret-named field's long value is a piece:
    ``inspector scan`` reads the request whole and names the field."""
    session, _ = _record(tmp_path, growing_session(1), backend=False)
    ident = "f" * 32
    value = "hunter2 " * 40
    with open(session.path / PIECES_FILE, "ab") as f:
        f.write(b'{"id":"' + ident.encode() + b'","v":' + orjson.dumps(value) + b"}\n")
    path = session.exchanges()[0].path / "client-request.json"
    request = orjson.loads(path.read_bytes())
    request["body"]["json"]["metadata"] = {"db_password": {"$p": ident}}
    path.write_bytes(orjson.dumps(request))
    findings = scan_paths([tmp_path]).findings
    assert any(f.kind == "field:db_password" and "pieces" in f.where for f in findings), findings


def test_a_pieces_file_that_cannot_be_written_stores_requests_whole(tmp_path):
    said = []
    store = RecordingStore(tmp_path, report=said.append)
    bodies = growing_session(3)
    session, _ = _record(tmp_path, bodies[:1], store=store)
    writer = store.pieces[session.path]
    writer.close()
    writer.path = tmp_path / "a-folder"  # where the next append goes: it cannot (a full disk, a lost mount)
    writer.path.mkdir()
    session, sent = _record(tmp_path, bodies[1:], store=store)
    assert any(PIECES_FILE in s and "stored whole" in s for s in said), said
    exchanges = session.exchanges()
    for ex, (client, backend) in zip(exchanges[1:], sent, strict=True):
        assert orjson.loads((ex.path / "client-request.json").read_bytes())["body"]["encoding"] == "json"
        assert ex.request_json() == client and ex.request_json("backend") == backend


@pytest.mark.parametrize("pieces", [True, False])
def test_a_store_can_write_either_way(tmp_path, pieces):
    store = RecordingStore(tmp_path, pieces=pieces)
    session, sent = _record(tmp_path, growing_session(2), store=store)
    assert (session.path / PIECES_FILE).exists() == pieces
    assert [ex.request_json() for ex in session.exchanges()] == [c for c, _ in sent]


def _as_format_2(source, root):
    """A shipped sample session written again by today's writer: same requests, same answers."""
    store = RecordingStore(root)
    for ex in source.exchanges():
        client, backend = ex.client_request, ex.backend_request
        meta = dict(ex.meta)
        w = store.exchange(session_id=source.meta["session_id"], id_source=source.meta["id_source"],
                           client=source.meta["client"], kind=ex.kind, meta={"started": meta.get("started")})

        def request(r, which, ex=ex):
            return {**r, "headers": [tuple(h) for h in r["headers"]], "body": ex.request_body(which),
                    "content_type": "application/json"}

        w.requests(request(client, "client"), request(backend, "backend") if backend else None)
        for direction in ("backend", "client"):
            status, headers, chunks = ex.response(direction)
            if status is not None:
                w.response_head(direction, status, [tuple(h) for h in headers], 0.0)
            for c in chunks:
                w.chunk(direction, c.data, c.t)
        w.finish({k: v for k, v in meta.items() if k not in ("schema", "seq", "chunks", "redacted")})
    (session,) = list_sessions(root)
    return session


def test_every_reader_reads_format_2_as_it_reads_format_1(tmp_path):
    from inspector.recording import ReplayIndex, compare, retranslate, session_to_har
    from inspector.report import session_report
    from inspector.telemetry import recorded_telemetry
    from inspector.viewer.data import summarize_session
    from inspector.viewer.documents import load_exchange

    source = list_sessions(samples_dir())[1]
    ours = _as_format_2(source, tmp_path)
    assert (ours.path / PIECES_FILE).exists() and ours.meta["schema"] == SCHEMA
    for old, new in zip(source.exchanges(), ours.exchanges(), strict=True):
        assert new.request_json() == old.request_json() and new.request_json("backend") == old.request_json("backend")
        assert load_exchange(new).tabs.keys() == load_exchange(old).tabs.keys()
        assert retranslate(new).same == retranslate(old).same
        assert not new.problems
    har = [(e["request"]["postData"]["text"], e["response"]["status"])
           for s in (source, ours) for e in session_to_har(s)["log"]["entries"]]
    assert har[:len(har) // 2] == har[len(har) // 2:]
    assert len(summarize_session(ours).rows) == len(summarize_session(source).rows)
    assert session_report(ours).startswith("<!doctype html>")
    assert len(recorded_telemetry([(ours, None)]).telemetry) == len(recorded_telemetry([(source, None)]).telemetry)
    assert compare(str(ours.path), str(source.path)).equal
    first = ours.exchanges()[0]
    answer = ReplayIndex([ours]).answer("POST", "/v1/messages", first.request_body())
    assert answer.status == 200
