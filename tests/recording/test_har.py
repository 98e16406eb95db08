
import orjson
from mitmproxy.io import FlowReader

from inspector.recording import list_sessions, session_to_har
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_har_opens_in_mitmproxys_reader(tmp_path):
    session = list_sessions(SAMPLES)[1]
    har = session_to_har(session)
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 4, "two exchanges, each side of each"
    path = tmp_path / "s.har"
    path.write_bytes(orjson.dumps(har))
    flows = list(FlowReader(open(path, "rb")).stream())
    assert [f.request.path for f in flows] == ["/v1/messages?beta=true", "/v1/chat/completions"] * 2
    assert flows[1].request.json()["messages"][0]["role"] in ("system", "user"), "the translated request"
    assert b"chat.completion.chunk" in flows[1].response.content, "the backend's answer as it came"
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


def test_har_has_each_side_at_the_url_it_was_sent_to(tmp_path):
    """A recording made through the real gateway: the client's entry is at the gateway's URL (in reverse
    mode mitmproxy had already pointed the request at the backend), the backend's at the backend's."""
    import httpx

    from inspector.testing.backends import Reply, ScriptedBackend
    from inspector.testing.gateway import Gateway
    with ScriptedBackend("ollama", [Reply(text="Hello.")]) as b, \
            Gateway(b.url, backend="ollama", model="qwen3:8b", record_dir=str(tmp_path)) as gw:
        httpx.post(gw.url + "/v1/messages?beta=true", timeout=30, json={
            "model": "claude-x", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    client, backend = session_to_har(list_sessions(tmp_path)[0])["log"]["entries"]
    assert client["request"]["url"] == gw.url + "/v1/messages?beta=true"
    assert backend["request"]["url"] == b.url + "/api/chat"
    assert '"model":"qwen3:8b"' in backend["request"]["postData"]["text"].replace(" ", "")
    assert backend["response"]["status"] == 200 and '"done": true' in backend["response"]["content"]["text"]
    assert client["response"]["content"]["text"].startswith("event: message_start")
