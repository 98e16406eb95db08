
import orjson
from mitmproxy.io import FlowReader

from inspector.recording import list_sessions, session_to_har
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_har_opens_in_mitmproxys_reader(tmp_path):
    session = list_sessions(SAMPLES)[1]
    har = session_to_har(session)
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 2
    path = tmp_path / "s.har"
    path.write_bytes(orjson.dumps(har))
    flows = list(FlowReader(open(path, "rb")).stream())
    assert [f.request.path for f in flows] == ["/v1/messages?beta=true"] * 2
    assert flows[0].request.json()["messages"][0]["role"] == "user"
    assert flows[0].response.status_code == 200 and b"message_start" in flows[0].response.content
    assert flows[0].request.headers["authorization"] == "[redacted]"


def test_har_of_an_old_recording_is_redacted_on_the_way_out(tmp_path):
    # A recording written before a pattern existed (here: by hand) still exports without its secret.
    import shutil

    from inspector.recording import list_sessions, session_to_har
    from inspector.testing.samples import samples_dir
    session = list_sessions(samples_dir())[0]
    copy = tmp_path / session.name
    shutil.copytree(session.path, copy)
    request = copy / session.exchanges()[0].path.name / "client-request.json"
    data = orjson.loads(request.read_bytes())
    secret = "sk-" + "proj-" + "Zq9" * 10
    data["url"] = "http://h/v1/messages?key=plain-secret-1"
    data["headers"].append(["x-auth-token", "plain-secret-2"])
    data["body"]["json"]["messages"][0]["content"] = f"my key {secret}"
    request.write_bytes(orjson.dumps(data))
    har = orjson.dumps(session_to_har(list_sessions(tmp_path)[0]))
    assert b"plain-secret-1" not in har and b"plain-secret-2" not in har and secret.encode() not in har
    assert b"[redacted:openai-key]" in har
