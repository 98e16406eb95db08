"""14.7: ``inspector scan`` says whether a folder is safe to commit — what and where, never the secret."""

import subprocess

import orjson

from inspector.cli import main
from inspector.recording._scan import scan_blob, scan_paths
from inspector.testing.samples import ROOT, sample_names

KEY = "sk-ant-" + "api03-" + "Q7w" * 30 + "AA"


def test_the_shipped_samples_are_safe_to_commit(capsys):
    assert main(["scan", *(str(ROOT / "recordings" / name) for name in sample_names())]) == 0
    assert "safe to commit" in capsys.readouterr().err


def _recording_with_secrets(root):
    ex = root / "20261121T165600Z_claude-cli-2.1.328_aaaabbbb" / "0001_messages"
    ex.mkdir(parents=True)
    (ex.parent / "session.json").write_bytes(b'{"schema": "inspector.recording/1"}')
    (ex / "client-request.json").write_bytes(orjson.dumps({
        "method": "POST", "url": "http://h/v1/messages?key=from-the-query", "path": "/v1/messages",
        "headers": [["x-api-key", "[redacted]"], ["x-auth-token", "an-old-recording"]],
        "body": {"encoding": "json", "json": {"messages": [{"role": "user", "content": f"my key:\n{KEY}"}],
                                              "metadata": {"password": "hunter2"}}}}, option=orjson.OPT_INDENT_2))
    events = [f'data: {{"type":"content_block_delta","delta":{{"type":"text_delta","text":"{KEY[i:i + 9]}"}}}}\n\n'
              for i in range(0, len(KEY), 9)]
    (ex / "client-response.jsonl").write_bytes(
        b'{"t": 0.0, "status": 200, "headers": [["content-type", "text/event-stream"]]}\n'
        + b"".join(orjson.dumps({"t": 0.1, "text": e}) + b"\n" for e in events))
    return ex


def test_every_kind_of_leak_is_found_with_its_place(tmp_path, capsys):
    ex = _recording_with_secrets(tmp_path / "recordings")
    report = scan_paths([tmp_path / "recordings"])
    got = {(f.path.rsplit("/", 1)[-1], f.where, f.kind) for f in report.findings}
    assert got == {
        ("client-request.json", "21:32", "anthropic-key"),
        ("client-request.json", "url", "query:key"),
        ("client-request.json", "headers.1", "header:x-auth-token"),
        ("client-request.json", "body.json.metadata.password", "field:password"),
        ("client-response.jsonl", "the reassembled stream", "anthropic-key"),  # split over 12 events
    }, got
    assert main(["scan", str(tmp_path / "recordings")]) == 1
    out = capsys.readouterr()
    for secret in (KEY, "from-the-query", "an-old-recording", "hunter2", KEY[:20]):
        assert secret not in out.out + out.err
    assert f"{ex}/client-request.json:21:32: anthropic-key ({len(KEY)} characters)" in out.out
    assert "NOT safe to commit" in out.err
    assert main(["scan", str(tmp_path / "nowhere")]) == 2


def test_a_redacted_recording_passes(tmp_path):
    from inspector.recording import RecordingStore
    store = RecordingStore(tmp_path / "r")
    w = store.exchange(session_id="abcdefgh-1", id_source="header", client="c", kind="messages", meta={})
    body = {"messages": [{"role": "user", "content": f"my key {KEY}"}], "metadata": {"password": "x"}}
    w.requests({"method": "POST", "path": "/v1/messages?key=k", "headers": [("x-auth-token", "t")],
                "body": orjson.dumps(body), "json": body}, None)
    w.chunk("client", f"data: {KEY}\n\n".encode())
    w.finish({})
    assert scan_paths([tmp_path / "r"]).safe
    assert scan_blob("x.txt", KEY.encode())[0].where == "1:1"


def _readme_block(heading: str, n: int) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return section.split("```sh\n")[n + 1].split("```")[0]


def test_the_readme_scan_and_its_pre_commit_hook_work_as_written(tmp_path):
    heading = "### Secrets: redacted on disk, `inspector scan` before you commit"
    repo = tmp_path / "project"
    (repo / ".venv" / "bin").mkdir(parents=True)
    shim = repo / ".venv" / "bin" / "inspector"  # the project's venv, pointing at this checkout
    import sys
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m inspector.cli "$@"\n')
    shim.chmod(0o755)
    import shutil
    for name in sample_names():
        shutil.copytree(ROOT / "recordings" / name, repo / "recordings" / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    check = _readme_block(heading, 0)
    run = subprocess.run(["bash", "-c", check], cwd=repo, capture_output=True, text=True)
    assert run.returncode == 0 and "safe to commit" in run.stderr, run
    hook = _readme_block(heading, 1)
    subprocess.run(["bash", "-ec", hook], cwd=repo, check=True)
    subprocess.run([*git, "add", "recordings"], cwd=repo, check=True)
    ok = subprocess.run([*git, "commit", "-qm", "samples"], cwd=repo, capture_output=True, text=True)
    assert ok.returncode == 0, ok
    _recording_with_secrets(repo / "recordings")
    subprocess.run([*git, "add", "-f", "recordings"], cwd=repo, check=True)
    refused = subprocess.run([*git, "commit", "-qm", "leak"], cwd=repo, capture_output=True, text=True)
    assert refused.returncode != 0 and "NOT safe to commit" in refused.stderr, refused
    # git shows a hook's output on stderr
    assert "0001_messages/client-request.json:21:32: anthropic-key" in refused.stderr and KEY not in refused.stderr
    log = subprocess.run(["git", "log", "--oneline"], cwd=repo, capture_output=True, text=True).stdout
    assert log.count("\n") == 1, "the leaking commit was not made"


def test_git_ignores_users_recordings_but_not_the_samples(tmp_path):
    # the repository's own .gitignore, asked through git itself
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0

    for name in sample_names():
        assert not ignored(f"recordings/{name}/session.json"), name
        assert not ignored(f"recordings/{name}/0001_messages/exchange.json"), name
    assert not ignored("recordings/samples.txt")
    assert ignored("recordings/20261201T101010Z_claude-cli-2.1.328_0badf00d/session.json")
    assert ignored("recordings/20261201T101010Z_claude-cli-2.1.328_0badf00d/0001_messages/client-request.json")
    assert ignored("recordings/notes.txt")
