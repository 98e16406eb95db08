import argparse
import subprocess
import sys

from inspector.cli import build_parser, client_env, gateway_command, main


def test_run_defaults_match_the_readme():
    args = build_parser().parse_args(["run"])
    cmd = gateway_command(args)
    assert cmd[cmd.index("--mode") + 1] == "reverse:http://127.0.0.1:11434"
    assert cmd[cmd.index("--listen-host") + 1] == "127.0.0.1" and cmd[cmd.index("-p") + 1] == "4000"
    assert "backend=ollama" in cmd and cmd[cmd.index("-s") + 1].endswith("addons/translate.py")


def test_env_to_paste_names_the_model_and_url():
    env = {line.name: line.value for line in client_env(build_parser().parse_args(["run", "--model", "qwen3:8b"]))}
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    assert env["ANTHROPIC_MODEL"] == env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == env["CLAUDE_CODE_SUBAGENT_MODEL"] == "qwen3:8b"
    assert env["ANTHROPIC_AUTH_TOKEN"]


def test_options_and_extra_mitmdump_args_pass_through(capsys):
    assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", "http://127.0.0.1:8080",
                 "--model-map", "haiku=small", "--num-ctx", "65536", "--", "--set", "ping_interval=2"]) == 0
    out = capsys.readouterr()
    assert "--set model_map=haiku=small" in out.out and "--set num_ctx=65536" in out.out
    assert out.out.strip().endswith("--set ping_interval=2")
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:4000" in out.err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "inspector.cli", "run", "--dry-run", "--backend", "anthropic"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "backend=anthropic" in out.stdout
    assert "ANTHROPIC_MODEL" not in out.stderr


def test_replay_command_points_mitmdump_at_the_replay_addon(capsys, tmp_path):
    assert main(["replay", str(tmp_path), "--speed", "0", "--port", "4100", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "addons/replay.py" in out.out and f"replay_dir={tmp_path}" in out.out
    assert "replay_speed=0.0" in out.out and "-p 4100" in out.out
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:4100" in out.err
    assert main(["replay", str(tmp_path / "missing")]) == 2


def test_export_har_of_a_sample_session(tmp_path, capsys):
    import orjson

    from inspector.recording import list_sessions
    from inspector.testing.samples import samples_dir
    root = samples_dir()
    session = list_sessions(root)[1]
    out = tmp_path / "s.har"
    assert main(["export", "--har", session.name, "--root", str(root), "-o", str(out)]) == 0
    har = orjson.loads(out.read_bytes())
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 4  # each exchange's two sides
    assert main(["export", "--har", "no-such-session", "--root", str(root)]) == 2
    assert "no session" in capsys.readouterr().err


def test_diff_text_exit_status_like_diff(capsys):
    from inspector.recording import list_sessions
    from inspector.testing.samples import samples_dir
    root = samples_dir()
    session = list_sessions(root)[1].name
    assert main(["diff", f"{session}#1", f"{session}#1", "--text", "--root", str(root)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["diff", f"{session}#1", f"{session}#2", "--text", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- {session}#1\n+++ {session}#2\n@@")
    assert main(["diff", "missing", session, "--text", "--root", str(root)]) == 2
    assert main(["view", str(root / "no-such-folder")]) == 2


def test_run_falls_back_to_the_embedded_backend_only_when_ollama_is_absent(capsys, monkeypatch):
    import inspector.cli as cli
    monkeypatch.setattr(cli, "_answers", lambda url, timeout=1.0: False)
    assert main(["run", "--embedded", "auto", "--dry-run"]) == 0
    assert "the embedded backend would start" in " ".join(capsys.readouterr().err.split())
    assert main(["run", "--embedded", "auto", "--backend-url", "http://127.0.0.1:9999", "--dry-run"]) == 0
    assert "embedded" not in capsys.readouterr().err, "a backend URL the user chose is never replaced"
    monkeypatch.setattr(cli, "_answers", lambda url, timeout=1.0: True)
    assert main(["run", "--embedded", "auto", "--dry-run"]) == 0
    assert "embedded" not in capsys.readouterr().err


def test_run_without_a_model_uses_what_the_backend_has(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        b.models = ["qwen3:8b", "llama3.2:3b"]
        assert main(["run", "--backend-url", b.url, "--dry-run"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "export ANTHROPIC_MODEL=qwen3:8b" in err and "export ANTHROPIC_DEFAULT_HAIKU_MODEL=qwen3:8b" in err
    assert "the backend also has llama3.2:3b" in err and "<" not in err.split("Paste")[1].split("$")[0]


def test_run_without_a_model_and_no_backend_names_no_placeholder(capsys):
    from inspector.testing.gateway import free_port
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["run", "--backend", "openai", "--backend-url", dead, "--dry-run"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "ANTHROPIC_MODEL" not in err, "a placeholder would be pasted literally"
    assert f"nothing answers at {dead}" in err and "--model NAME" in err


def test_a_dry_run_with_no_ollama_shows_the_embedded_backends_environment(capsys, monkeypatch):
    import inspector.cli as cli
    monkeypatch.setattr(cli, "_answers", lambda url, timeout=1.0: False)
    assert main(["run", "--embedded", "auto", "--dry-run"]) == 0
    out = capsys.readouterr()
    err = " ".join(out.err.split())
    assert "the embedded backend would start" in err
    assert "export ANTHROPIC_MODEL=smollm2-135m-instruct" in err and "OpenAI-compatible" in err
    assert "backend=openai" in out.out and "max_context=8192" in out.out
    assert "max_tokens_limit=512" in out.out, "a 135M model that does not stop must not fill its window"
    assert main(["run", "--embedded", "auto", "--dry-run", "--max-tokens-limit", "100"]) == 0
    assert "max_tokens_limit=100" in capsys.readouterr().out, "the user's own limit wins"


def test_replay_prints_the_environment_to_paste(capsys, tmp_path):
    from inspector.testing.samples import samples_dir
    assert main(["replay", str(samples_dir()), "--dry-run", "--port", "4111"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    for line in ("export ANTHROPIC_BASE_URL=http://127.0.0.1:4111", "export ANTHROPIC_AUTH_TOKEN=inspector-local",
                 "export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"):
        assert line in err


def test_every_run_option_says_what_it_does():
    run = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith(" run"))
    for action in run._actions:
        if action.dest != "help":
            assert action.help, f"--{action.dest} has no help text"


def _exports(err: str) -> dict[str, str]:
    from inspector.testing.shells import printed_block
    return dict(line[len("export "):].split("=", 1) for line in printed_block(err).splitlines())


def test_run_prints_the_window_the_backend_will_really_use(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("ollama", [Reply()]) as b:
        b.context_length = 131072
        assert main(["run", "--dry-run", "--backend-url", b.url, "--model", "qwen3:8b", "--num-ctx", "65536"]) == 0
        small = capsys.readouterr().err
        assert main(["run", "--dry-run", "--backend-url", b.url, "--model", "qwen3:8b", "--num-ctx", "131072"]) == 0
        big = capsys.readouterr().err
    env = _exports(small)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "65536" and "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in env
    assert "no CLAUDE_CODE_AUTO_COMPACT_WINDOW: Claude Code raises any value under 100,000" in small
    env = _exports(big)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"


def test_run_says_so_when_the_backend_does_not_tell(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("openai", [Reply()]) as b:
        assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", b.url, "--model", "m"]) == 0
    err = capsys.readouterr().err
    assert "CLAUDE_CODE_MAX_CONTEXT_TOKENS" not in _exports(err) and "will assume 1M tokens" in err
    assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", b.url, "--model", "m",
                 "--max-context", "8192"]) == 0
    assert _exports(capsys.readouterr().err)["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "8192"


def test_the_readmes_environment_blocks_are_what_inspector_run_prints(capsys):
    """The README's make-run output (qwen3:8b: trained for 40,960 tokens, NUM_CTX=65536) and its
    pasteable block are exactly what inspector run prints."""
    from inspector.testing.backends import Reply, ScriptedBackend
    from inspector.testing.readme import block
    from inspector.testing.shells import printed_block
    shown = printed_block(block("Paste into the shell where you run Claude Code", langs=("text",)))
    with ScriptedBackend("ollama", [Reply()]) as b:  # qwen3:8b, context_length 40960, as Ollama's library has it
        assert main(["run", "--dry-run", "--backend-url", b.url, "--model", "qwen3:8b", "--num-ctx", "65536"]) == 0
    printed = printed_block(capsys.readouterr().err)
    assert printed == shown == block("export CLAUDE_CODE_MAX_OUTPUT_TOKENS=5120")


def test_names_with_markup_are_printed_as_they_are(tmp_path, capsys):
    """Issue 19 #9: a folder or session name is text, never rich markup (``[/]`` raised MarkupError)."""
    hostile = str(tmp_path / "claude-[/]")
    for args in (["view", hostile], ["export", "--html", hostile, "--root", str(tmp_path)],
                 ["diff", hostile, hostile, "--root", str(tmp_path), "--text"], ["replay", hostile, "--dry-run"],
                 ["scan", hostile]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.replace("\n", "")  # a long path wraps at the console's width
        assert "error:" in err and "claude-[/]" in err and "Traceback" not in err, args


def test_reports_show_recorded_names_as_they_are(tmp_path, capsys):
    """Issue 19 #9: a model, tool or folder named with markup is printed as text by stats and toolcalls."""
    from inspector.testing.synth import Spec, write_session
    root = tmp_path / "rec[bold]"
    write_session(root, [Spec(model="claude-[/]", backend_model="[/]", tool=("[/]Write", {"a": 1}),
                              tool_result=("toolu_x", "failed", True), extra_meta={
                                  "performance": {"decode_tokens_per_s": 9.0, "source": "[/]src"}},
                              notes=[{"kind": "repaired", "message": "m", "count": 1, "rule": "text-call:[/]"}])])
    for command in ("stats", "toolcalls"):
        assert main([command, str(root)]) == 0, command
        out = capsys.readouterr().out
        assert "[/]" in out and "rec[bold]" in out, (command, out)


# -- what start says (issue 21): what doctor would, in the words the user typed ------------------------
def _flat(text: str) -> str:
    return " ".join(text.split())


def test_run_refuses_a_port_in_use_and_says_whether_a_gateway_is_there(capsys, monkeypatch):
    import socket

    from inspector.testing.backends import Reply, ScriptedBackend
    from inspector.testing.gateway import Gateway
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["run", "--port", str(port), "--backend-url", "http://127.0.0.1:9", "--model", "m"]) == 1
        err = _flat(capsys.readouterr().err)
        assert f"port {port} is in use by something that is not an inspector gateway" in err
        assert f"inspector run --port {port + 1}" in err and "Paste" not in err, "refused before printing a block"
        monkeypatch.setenv("INSPECTOR_LAUNCHER", "make")
        assert main(["run", "--port", str(port), "--backend-url", "http://127.0.0.1:9", "--model", "m"]) == 1
        assert f"make run PORT={port + 1}" in _flat(capsys.readouterr().err)
    with ScriptedBackend("ollama", [Reply()]) as b, Gateway(b.url, backend="ollama", model="qwen3:8b") as gw:
        assert main(["run", "--port", str(gw.port), "--backend-url", b.url, "--model", "qwen3:8b"]) == 1
    err = _flat(capsys.readouterr().err)
    assert f"port {gw.port} is in use: an inspector gateway already answers there (backend ollama at {b.url}" in err
    assert f"make run PORT={gw.port + 1}" in err


def test_run_strips_v1_from_the_backend_url_with_a_note(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("openai", [Reply()]) as b:
        b.models = ["m"]
        assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", b.url + "/v1/", "--port", "4999"]) == 0
    out = capsys.readouterr()
    assert f"--mode reverse:{b.url} " in out.out
    err = _flat(out.err)
    assert f"--backend-url {b.url}/v1/ ends in /v1; the gateway adds the API's paths itself, so it uses {b.url}" in err
    assert err.index("ends in /v1") < err.index("inspector gateway"), "said before anything else"
    assert "export ANTHROPIC_MODEL=m" in err, "and the backend's models were then found"


def test_run_says_the_backend_lacks_the_model_in_the_users_words(capsys, monkeypatch):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("ollama", [Reply()]) as b:
        assert main(["run", "--dry-run", "--backend-url", b.url, "--model", "qwen3:4b", "--port", "4999"]) == 0
        err = _flat(capsys.readouterr().err)
        monkeypatch.setenv("INSPECTOR_LAUNCHER", "make")
        assert main(["run", "--dry-run", "--backend-url", b.url, "--model", "qwen3:4b", "--port", "4999"]) == 0
        made = _flat(capsys.readouterr().err)
    assert "the backend does not have qwen3:4b (it has: qwen3:8b): run `ollama pull qwen3:4b`" in err
    assert "or restart with --model qwen3:8b" in err and "or restart with MODEL=qwen3:8b" in made


def test_run_says_which_form_a_backend_of_another_form_looks_like(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("ollama", [Reply()]) as b:
        assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", b.url, "--model", "m",
                     "--port", "4999"]) == 0
    err = _flat(capsys.readouterr().err)
    assert f"{b.url} is not an OpenAI-compatible backend: it answered HTTP 404 to GET /v1/models" in err
    assert f"it looks like an Ollama server (/api/tags answers): restart with inspector run --backend ollama " \
           f"--backend-url {b.url}" in err


def test_the_output_reservation_leaves_claude_code_room_in_every_window():
    """Measured figures (tools/claude_window.py): Claude Code sends a prompt only when the window minus
    min(reservation, 20,000) leaves it room; what inspector run prints always does, from 8k up."""
    from inspector.client_env import NEEDS, fits, output_for, reserved
    for window in (8192, 16384, 32768, 40960, 131072, 1_000_000):
        output = output_for(window)
        assert fits(window, output, "full"), window
        assert output <= 32_000
    assert output_for(8192, limit=512) == 512, "matched to the gateway's cap on answers"
    assert not fits(8192, None, "trimmed"), "unset, Claude Code keeps 20,000: every prompt is refused (issue 21)"
    assert reserved(None) == 20_000 and NEEDS["trimmed"] < NEEDS["full"]


def test_a_window_is_called_the_backends_only_when_the_backend_said_it(capsys):
    from inspector.testing.backends import Reply, ScriptedBackend
    with ScriptedBackend("openai", [Reply()]) as b:
        b.models = ["m"]
        assert main(["run", "--dry-run", "--backend", "openai", "--backend-url", b.url, "--model", "m",
                     "--max-context", "8192", "--port", "4999"]) == 0
    err = _flat(capsys.readouterr().err)
    assert "the window you gave (--max-context; the backend was not asked)" in err
    assert "the backend says" not in err


# -- the small things a newcomer trips on (issue 21) ---------------------------------------------------------
def _commands() -> dict[str, argparse.ArgumentParser]:
    return dict(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_version_and_help_text_without_rest_markup(capsys):
    import re

    import pytest

    from inspector import __version__
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"inspector {__version__} (claude-code-inspector)"
    texts = {"inspector": build_parser().format_help(), **{n: p.format_help() for n, p in _commands().items()}}
    for name, text in texts.items():
        assert not re.search(r"``|:(class|func|meth|mod|attr):|^\.\. ", text, re.M), f"{name} --help:\n{text}"


def test_every_command_ends_quietly_when_its_reader_goes_away(tmp_path):
    """``inspector stats | head``: the reader closes the pipe; no BrokenPipe traceback, no 'Exception
    ignored' at exit — for every command that prints."""
    import os

    from inspector.testing.forms import PASSED_THROUGH
    from inspector.testing.samples import samples_dir
    samples = str(samples_dir())
    session = "4997fd7d"
    runs = [["--help"], ["--version"], ["stats", samples], ["stats", samples, "--json"], ["toolcalls", samples],
            ["scan", samples], ["diff", f"{session}#1", f"{session}#2", "--text", "--root", samples],
            ["export", "--har", session, "--root", samples, "-o", "-"],
            ["export", "--html", session, "--root", samples, "-o", "-"],
            ["run", "--dry-run", "--backend", PASSED_THROUGH[0], "--port", "4999"],
            ["replay", samples, "--dry-run", "--port", "4999"],
            ["eval", samples, "--backend", "ollama", "--backend-url", "http://127.0.0.1:9", "--model", "m",
             "--turns", "2-3"],
            ["doctor", "--settings", str(tmp_path / "none.json"), "--claude", "/bin/false", "--timeout", "0.5"]]
    assert {r[0] for r in runs if not r[0].startswith("-")} >= set(_commands()) - {"view"}, "every command"
    for args in runs:
        read, write = os.pipe()
        os.close(read)  # the reader is gone before anything is written
        try:
            done = subprocess.run([sys.executable, "-m", "inspector.cli", *args], stdout=write, stderr=subprocess.PIPE,
                                  text=True, timeout=120, env={**os.environ, "COLUMNS": "120"})
        finally:
            os.close(write)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, f"{args}:\n{done.stderr}"


def test_replay_takes_a_session_name_as_diff_and_export_do(capsys):
    from inspector.testing.samples import samples_dir
    root = samples_dir()
    assert main(["replay", "4997fd7d", "--root", str(root), "--dry-run", "--port", "4999"]) == 0
    out = capsys.readouterr()
    assert f"replay_dir={root / '20261202T180244Z_claude-cli-2.1.328_4997fd7d'}" in out.out
    assert main(["replay", "no-such-session", "--root", str(root), "--dry-run"]) == 2
    assert "no session" in capsys.readouterr().err
