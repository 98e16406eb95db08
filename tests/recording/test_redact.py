"""14.7: secrets beyond the known headers never reach disk — by name and by pattern."""

import stat
from collections import Counter

import orjson
import pytest

from inspector.recording import RecordingStore, Redactor, _redact, list_sessions

# Secret-shaped values, assembled so that no literal secret sits in the source.
A = "A1b2C3d4E5f6G7h8"
SECRETS = {
    "anthropic-key": "sk-ant-" + "api03-" + A * 6 + "AA",
    "anthropic-key/oauth": "sk-ant-" + "oat01-" + A * 5,
    "openai-key": "sk-" + "proj-" + A * 4,
    "aws-access-key-id": "AKIA" + "IOSFODNN7EXAMPLE",
    "github-token": "ghp" + "_" + "Ab3" * 12,
    "gitlab-token": "glpat" + "-" + A + "xyzw",
    "google-api-key": "AIza" + "Sy" + "D" * 33,
    "google-oauth-token": "ya29" + "." + A * 2,
    "slack-token": "xoxb" + "-" + "1234567890-" + A,
    "stripe-key": "sk" + "_live_" + A * 2,
    "huggingface-token": "hf" + "_" + "a1" * 17,
    "npm-token": "npm" + "_" + "a1B2" * 9,
    "jwt": "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "."
           + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7\n" + \
      "-----END " + "RSA PRIVATE KEY-----"


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_kind_is_found_in_prose_and_in_json_text(kind):
    r = Redactor()
    secret = SECRETS[kind]
    for text in (f"my key is {secret} ok", orjson.dumps({"text": f"use {secret}\n"}).decode(), secret):
        found: Counter[str] = Counter()
        out = r.text(text, found)
        assert secret not in out and f"[redacted:{kind.split('/')[0]}]" in out
        assert found == {kind.split("/")[0]: 1}
        assert [(f.kind, text[f.start:f.end]) for f in r.findings(text)] == [(kind.split("/")[0], secret)]


def test_contextual_secrets_keep_their_context():
    r = Redactor()
    cases = {
        "curl -H 'Authorization: Bearer abcdefghijklmnop1234'": "Bearer [redacted:bearer-token]'",
        "postgres://admin:hunter2hunter2@db:5432/x": "postgres://admin:[redacted:url-password]@db",
        'API_KEY="q8dF3kL9zX2mN7pR"': 'API_KEY="[redacted:secret-assignment]"',
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "= [redacted:aws-secret-access-key]",
        PEM + " trailing": "[redacted:private-key] trailing",
        orjson.dumps(PEM).decode(): '"[redacted:private-key]"',
    }
    for text, expected in cases.items():
        assert expected in r.text(text), text
        assert orjson.loads(orjson.dumps(r.text(text))) is not None


def test_what_is_not_a_secret_stays(claude_code_request, claude_code_tool_result_request):
    r = Redactor()
    for text in ("the task-list and desk-lamp", "max_tokens: 32000", "password = getpass()", "token = os.environ['T']",
                 "https://example.com/path?beta=true", "Bearer inspector-local", "[redacted:openai-key]"):
        assert r.text(text) == text
    for raw in (claude_code_request, claude_code_tool_result_request):
        body = orjson.loads(raw)
        found: Counter[str] = Counter()
        assert r.json(body, found) is body and not found, found  # Claude Code's real requests: nothing to hide


def test_names_headers_query_keys_and_fields():
    r = Redactor(["x-my-private"])
    found: Counter[str] = Counter()
    headers = r.headers([("x-auth-token", "t1"), ("x-custom-api-key", "k"), ("x-service-token", "s"),
                         ("x-db-secret", "d"), ("x-my-private", "p"), ("user-agent", "claude-cli/2"),
                         ("x-note", "see " + SECRETS["anthropic-key"])], found)
    assert [v for _, v in headers[:5]] == ["[redacted]"] * 5 and headers[5][1] == "claude-cli/2"
    assert headers[6][1] == "see [redacted:anthropic-key]"
    url = r.url("https://h/v1/messages?beta=true&key=K1&api_key=K2&token=K3&X-Amz-Signature=K4", found)
    assert url == "https://h/v1/messages?beta=true&key=%5Bredacted%5D&api_key=%5Bredacted%5D&token=%5Bredacted%5D" \
                  "&X-Amz-Signature=%5Bredacted%5D"
    body = r.json({"metadata": {"user_id": "u", "api_key": "k-123"}, "messages": [
        {"role": "user", "content": [{"type": "tool_use", "input": {"password": "p4ss", "path": "/x"}}]}]}, found)
    assert body["metadata"] == {"user_id": "u", "api_key": "[redacted]"}
    assert body["messages"][0]["content"][0]["input"] == {"password": "[redacted]", "path": "/x"}
    assert found["header:x-auth-token"] == 1 and found["query:key"] == 1 and found["field:password"] == 1


def test_a_conversation_is_scanned_once_per_message(claude_code_request, monkeypatch):
    r = Redactor()
    body = orjson.loads(claude_code_request)
    body["messages"].append({"role": "user", "content": "here: " + SECRETS["openai-key"]})
    found: Counter[str] = Counter()
    first = r.json(body, found)
    assert SECRETS["openai-key"] not in orjson.dumps(first).decode() and found == {"openai-key": 1}
    scanned: list[int] = []
    real = r.spans
    monkeypatch.setattr(r, "spans", lambda text: scanned.append(len(text)) or real(text))
    body["messages"].append({"role": "assistant", "content": "noted"})
    again: Counter[str] = Counter()
    second = r.json(body, again)
    assert again == {"openai-key": 1} and second["messages"][-2] == first["messages"][-1]
    # only the new message (and the short strings at the top level) were looked at again
    assert sum(scanned) < 200, scanned


def test_the_writer_redacts_everything_it_writes_and_keeps_it_private(tmp_path):
    secret = SECRETS["anthropic-key"]
    aws = SECRETS["aws-access-key-id"]
    store = RecordingStore(tmp_path / "rec")
    w = store.exchange(session_id="s-123456789", id_source="header", client="claude-cli/2.1.328", kind="messages",
                       meta={"started": "x"})
    body = {"model": "m", "max_tokens": 5, "metadata": {"user_id": "u", "token": "zzz-session"},
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": f"here is my key {secret}, use it"},
                {"type": "tool_result", "tool_use_id": "t", "content": f"AWS_ACCESS_KEY_ID={aws}\n"}]}]}
    raw = orjson.dumps(body)
    w.requests({"method": "POST", "path": "/v1/messages?key=QUERYSECRET1", "url": "http://h/v1/messages?key=QUERYSECRET1",
                "headers": [("x-auth-token", "HEADERSECRET"), ("x-api-key", "sk-local")], "body": raw, "json": body},
               {"method": "POST", "path": "/api/chat", "url": "http://o/api/chat", "headers": [],
                "body": raw, "json": {"messages": [{"role": "user", "content": f"key {secret}"}]}})
    w.response_head("client", 200, [("content-type", "text/event-stream"), ("set-cookie", "SESSIONCOOKIE")])
    w.chunk("client", f'data: {{"text": "echo {secret}"}}\n\n'.encode())
    w.chunk("backend", f'{{"message": {{"content": "{aws}"}}}}\n'.encode())
    w.finish({"tool_calls": [{"name": "Bash", "id": "t", "input": {"command": f"export KEY={secret}"}}],
              "error": {"type": "x", "message": f"backend said {secret}"}})
    files = [p for p in (tmp_path / "rec").rglob("*") if p.is_file()]
    everything = b"".join(p.read_bytes() for p in files)
    for value in (secret, aws, "QUERYSECRET1", "HEADERSECRET", "sk-local", "SESSIONCOOKIE", "zzz-session"):
        assert value.encode() not in everything, value
    (ex,) = list_sessions(tmp_path / "rec")[0].exchanges()
    assert "[redacted:anthropic-key]" in ex.request_json()["messages"][0]["content"][0]["text"]
    assert ex.meta["redacted"] == {"anthropic-key": 5, "aws-access-key-id": 2, "field:token": 1, "header:set-cookie": 1,
                                   "header:x-api-key": 1, "header:x-auth-token": 1, "query:key": 2}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for d in [tmp_path / "rec", *(p for p in (tmp_path / "rec").rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_the_default_redactor_is_shared():
    assert _redact.redactor() is _redact.redactor()


def test_a_failed_try_at_one_keyword_never_hides_a_secret_at_another():
    # "secret" late in the text was tried first (keyword order) and failed; the password before it
    # was then skipped as "already looked at". Keywords are now tried in the order of the text.
    text = '"password": "' + A + 'x9"\'=secret'
    assert Redactor().text(text) == '"password": "[redacted:secret-assignment]"\'=secret'


def test_usage_fields_in_every_stream_event_cost_no_regex(monkeypatch):
    chunk = ('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
             '"usage":{"input_tokens":12000,"output_tokens":57,"cache_read_input_tokens":0}}\n\n')
    tried = []
    monkeypatch.setattr(Redactor, "_near", staticmethod(lambda *a: tried.append(a[0].kind) or a[2]))
    assert Redactor().text(chunk) == chunk and tried == []


@pytest.mark.parametrize("name", ["password", "db_password", "Passwd", "passphrase", "api-key", "token",
                                  "client_secret", "authorization", "cookie"])
def test_a_secret_named_field_is_redacted_whatever_its_value(name):
    """Issue 19 #13: by its name — a weak value (hunter2) fits no pattern — in JSON, in JSON as text,
    and in JSON inside a JSON string (an OpenAI arguments string, a partial_json)."""
    r = Redactor()
    weak = "hunter2"
    assert r.json({"input": {name: weak, "path": "/x"}}) == {"input": {name: "[redacted]", "path": "/x"}}
    as_text = orjson.dumps({"input": {name: weak, "path": "/x"}}).decode()
    nested = orjson.dumps({"arguments": as_text}).decode()
    for text in (as_text, nested, "data: " + nested + "\n\n"):
        found: Counter[str] = Counter()
        out = r.text(text, found)
        assert weak not in out and "/x" in out and found == {"secret-field": 1}, out
    for harmless in ('{"input_tokens": 5, "max_tokens": "7"}', '{"password_hint": "a pet"}', '{"monkey": "x1"}'):
        assert r.text(harmless * 3) == harmless * 3
