from pathlib import Path

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
