"""``inspector doctor``: check the setup Claude Code would actually use, and say how to fix it.

Reads the environment and Claude Code's ``~/.claude/settings.json`` ``env`` block (which
Claude Code applies on top of the environment), probes the gateway and its backend with
short timeouts, and prints pass / warn / fail lines, each failure with the exact fix.
Never prints a secret. Exit status: 0 when nothing fails, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .client_env import DEFAULT_OUTPUT, NEEDS, output_for, reserved, room
from .launcher import Launcher
from .probe import listing
from .protocol import STATUS_PATH, TIERS, BackendForm, ModelFacts, ModelRouter, TranslateOptions, get_form

__all__ = ["Check", "Doctor", "has_model", "mask"]

MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
              "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_DEFAULT_FABLE_MODEL", "ANTHROPIC_SMALL_FAST_MODEL",
              "CLAUDE_CODE_SUBAGENT_MODEL")
#: What a subagent definition names, and the variable that says which model that tier means.
TIER_VARS = {tier: f"ANTHROPIC_DEFAULT_{tier.upper()}_MODEL" for tier in TIERS}
#: Claude Code's system prompt and tools alone are ~15k tokens; a context below this truncates them.
MIN_CONTEXT = 20_000


@dataclass(slots=True)
class Check:
    status: str  # pass | warn | fail
    title: str
    detail: str = ""
    fix: str = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        mark, style = {"pass": ("✓ pass", "green"), "warn": ("! warn", "yellow"),
                       "fail": ("✗ fail", "bold red")}[self.status]
        line = Text(f"{mark}  ", style=style)
        line.append(self.title, style="bold")
        if self.detail:
            line.append(f" — {self.detail}")
        yield line
        if self.fix:
            yield Text(f"        fix: {self.fix}", style=style if self.status == "fail" else "yellow")


def mask(secret: str) -> str:
    """``sk-ant-api03-abcdef…wxyz`` → ``sk-ant-…wxyz`` (never the secret itself)."""
    if len(secret) <= 8:
        return "…" * bool(secret)
    prefix = secret[:7] if secret.startswith("sk-") else secret[:2]
    return f"{prefix}…{secret[-4:]}"


def _get(url: str, *, timeout: float, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class Doctor:
    def __init__(self, env: dict[str, str] | None = None, *, settings: Path | None = None,
                 timeout: float = 2.0, claude: str | None = None) -> None:
        self.shell_env = dict(os.environ if env is None else env)
        self.settings_path = settings if settings is not None else Path.home() / ".claude" / "settings.json"
        self.timeout = timeout
        self.claude = claude
        self.checks: list[Check] = []
        self.env, self.sources = self._effective_env()
        #: How the gateway was started (its status says): fixes are spelt the way the user typed it.
        self.launcher = Launcher("make")

    def _effective_env(self) -> tuple[dict[str, str], dict[str, str]]:
        env = {k: v for k, v in self.shell_env.items() if k.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
        sources = {k: "environment" for k in env}
        try:
            block = json.loads(self.settings_path.read_text()).get("env") or {}
        except FileNotFoundError:
            block = {}
        except (OSError, ValueError, AttributeError) as e:
            self.checks.append(Check("warn", "Claude Code settings unreadable", f"{self.settings_path}: {e}",
                                     "fix the JSON, or remove the file"))
            block = {}
        for k, v in block.items():
            if isinstance(v, str) and k.startswith(("ANTHROPIC_", "CLAUDE_CODE_")):
                env[k] = v
                sources[k] = str(self.settings_path)
        return env, sources

    def add(self, status: str, title: str, detail: str = "", fix: str = "") -> Check:
        check = Check(status, title, detail, fix)
        self.checks.append(check)
        return check

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def _from(self, name: str) -> str:
        return f" (from {self.sources[name]})" if self.sources.get(name, "environment") != "environment" else ""

    # -- the checks ------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        self.check_provider()
        self.check_credentials()
        base = self.check_base_url()
        status = self.check_gateway(base) if base else None
        if status is not None:
            self.check_backend(status)
        self.check_claude_code()
        return self.checks

    def check_provider(self) -> None:
        for name in ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"):
            if self.env.get(name, "").lower() not in ("", "0", "false"):
                self.add("fail", f"{name} is set{self._from(name)}",
                         "Claude Code then talks to that cloud and ignores ANTHROPIC_BASE_URL",
                         f"unset {name}")

    def check_credentials(self) -> None:
        key, token = self.env.get("ANTHROPIC_API_KEY"), self.env.get("ANTHROPIC_AUTH_TOKEN")
        if key and token:
            self.add("warn", "ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN are both set",
                     f"key {mask(key)}, token {mask(token)}: they conflict (Claude Code may ask which to use, "
                     f"and sends both)", "unset one: for the gateway, ANTHROPIC_AUTH_TOKEN=inspector-local is enough")
        elif not key and not token:
            self.add("fail", "no credential for Claude Code", "neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN is set",
                     "export ANTHROPIC_AUTH_TOKEN=inspector-local  (any value: the gateway does not forward it)")
        for name, value in (("ANTHROPIC_API_KEY", key), ("ANTHROPIC_AUTH_TOKEN", token)):
            if value and (value != value.strip() or any(c.isspace() or not c.isprintable() or ord(c) > 126
                                                        for c in value)):
                self.add("fail", f"{name} has characters an HTTP header cannot carry{self._from(name)}",
                         f"{mask(value)} contains whitespace, a newline or non-ASCII text; Claude Code rejects it",
                         f"export {name}=<the value without quotes, spaces or line breaks>")
            elif value:
                self.add("pass", f"{name} set{self._from(name)}", mask(value))

    def check_base_url(self) -> str | None:
        base = self.env.get("ANTHROPIC_BASE_URL")
        if not base:
            self.add("warn", "ANTHROPIC_BASE_URL is not set", "Claude Code talks to api.anthropic.com directly",
                     "start the gateway (make run) and export the ANTHROPIC_BASE_URL it prints")
            return None
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.add("fail", "ANTHROPIC_BASE_URL is not a URL", repr(base),
                     "export ANTHROPIC_BASE_URL=http://127.0.0.1:4000")
            return None
        calls = base.rstrip("/") + "/v1/messages"
        path = parts.path.rstrip("/")
        if path:
            hint = " (it already ends in /v1, so Claude Code calls /v1/v1/messages)" if path.endswith("/v1") else ""
            self.add("fail", "ANTHROPIC_BASE_URL has a path", f"Claude Code will call {calls}{hint}",
                     f"export ANTHROPIC_BASE_URL={parts.scheme}://{parts.netloc}")
        else:
            self.add("pass", f"ANTHROPIC_BASE_URL={base}{self._from('ANTHROPIC_BASE_URL')}",
                     f"Claude Code will call {calls}")
        return base.rstrip("/")

    def check_gateway(self, base: str) -> dict[str, Any] | None:
        origin = f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
        try:
            status, body = _get(origin + STATUS_PATH, timeout=self.timeout)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            self.add("fail", f"nothing answers at {origin}", str(reason),
                     "start the gateway: make run   (or correct ANTHROPIC_BASE_URL)")
            return None
        if status == 200 and isinstance(body, dict) and body.get("gateway") == "claude-code-inspector":
            self.launcher = Launcher.current({"INSPECTOR_LAUNCHER": str(body.get("launcher") or "make")})
            self.add("pass", f"the inspector gateway answers at {origin}",
                     f"backend {body.get('backend')} at {body.get('backend_url')}, model {body.get('model') or '(as asked)'}")
            return body
        # Something else answers: is it a backend, reached directly?
        try:
            s, version = _get(origin + "/api/version", timeout=self.timeout)
        except (urllib.error.URLError, OSError):
            s, version = 0, None
        if s == 200 and isinstance(version, dict) and "version" in version:
            self.add("warn", f"ANTHROPIC_BASE_URL points at Ollama {version['version']} itself, not the gateway",
                     "Ollama ≥ 0.14 speaks the Messages API, but nothing is inspected, recorded or repaired",
                     f"make run BACKEND_URL={origin} MODEL=<model>, then export ANTHROPIC_BASE_URL=http://127.0.0.1:4000")
            return None
        try:
            s, models = _get(origin + "/v1/models", timeout=self.timeout)
        except (urllib.error.URLError, OSError):
            s, models = 0, None
        if s == 200 and isinstance(models, dict) and models.get("object") == "list":
            self.add("fail", "ANTHROPIC_BASE_URL points at an OpenAI-compatible server, not the gateway",
                     "Claude Code speaks the Anthropic Messages API, which that server does not",
                     f"make run BACKEND=openai BACKEND_URL={origin} MODEL=<model>, then point "
                     f"ANTHROPIC_BASE_URL at the gateway (http://127.0.0.1:4000)")
            return None
        self.add("warn", f"{origin} answers, but it is not the inspector gateway",
                 f"{STATUS_PATH} said HTTP {status}", "if it should be the gateway: start it with make run")
        return None

    def check_backend(self, gw: dict[str, Any]) -> None:
        try:
            form = get_form(str(gw.get("backend")))
        except ValueError:
            self.add("warn", f"the gateway reports an unknown backend form {gw.get('backend')!r}", "",
                     "update claude-code-inspector")
            return
        backend = (gw.get("backend_url") or "").rstrip("/")
        router = ModelRouter(model=gw.get("model") or "", model_map=gw.get("model_map") or "")
        # What Claude Code asks for: the variables set here, and the names the gateway has seen it
        # ask for (its defaults change by release; the running binary is the authority).
        asked = {name: self.env[name] for name in MODEL_VARS if self.env.get(name)}
        seen = [m for m in gw.get("requested_models") or [] if isinstance(m, str) and m not in asked.values()]
        routes = {name: (m, router.route(m)) for name, m in asked.items()}
        routes |= {f"asked by Claude Code: {m}": (m, router.route(m)) for m in seen}
        if not form.needs_backend_model:
            self.add("pass", f"the gateway passes Anthropic requests through to {backend}")
            return
        said = listing(form, backend, timeout=self.timeout)
        flight = gw.get("in_flight")
        busy: dict[str, Any] = flight if isinstance(flight, dict) else {}
        if not said.answered and said.timed_out and busy.get("count"):
            self.add("warn", f"the {form.label} backend at {backend} is busy",
                     f"the gateway has {busy['count']} request(s) in flight (the longest for {busy.get('longest_s')} s) "
                     f"and the backend did not answer doctor within {self.timeout:g} s: a local model evaluating a "
                     f"long prompt answers nothing else meanwhile", "wait, or run doctor again once the answer is in")
            return
        if not said.answered:
            self.add("fail", f"the gateway is up but its {form.label} backend at {backend} is not", said.reason,
                     f"{form.start_hint}, or restart the gateway with "
                     f"{self.launcher.option('backend_url', '<where it runs>')}")
            return
        available = said.models
        self.add("pass", f"the {form.label} backend at {backend} answers",
                 f"{len(available)} models" if available is not None else "")
        if not routes:
            self.add("warn", "no ANTHROPIC_MODEL is set and Claude Code has not asked the gateway for anything yet",
                     "Claude Code's own default (a Claude model name) would be sent to the backend unless the "
                     "gateway routes it",
                     f"export ANTHROPIC_MODEL=<one of: {', '.join((available or [])[:5]) or 'the backend models'}>, "
                     f"or restart the gateway with {self.launcher.option('model', 'NAME')}")
        for name, (requested, target) in routes.items():
            label = f"{name}={requested}{self._from(name)}" if name in self.env else name
            present = available is None or not available or has_model(available, target)
            if present:
                self.add("pass", label, f"the gateway sends it to {target}")
                continue
            choices = ", ".join((available or [])[:5]) or "a model the backend serves"
            if target.lower().startswith("claude"):
                # A Claude model name reached the backend as it is: nothing to pull, route it instead.
                fix = (f"restart the gateway with {self.launcher.option('model', f'<one of: {choices}>')}, or export "
                       f"ANTHROPIC_MODEL=<one of them> in Claude Code's shell")
            else:
                fix = (f"{form.missing_model_fix(target)}, or restart the gateway with "
                       f"{self.launcher.option('model', f'<one of: {choices}>')}")
            self.add("fail", f"{label} → {target}, which the backend does not have",
                     f"available: {', '.join((available or [])[:8]) or 'none'}", fix)
        self.check_subagent_tiers(router)
        if form.sizes_context:
            self._check_context(form, backend, gw, {t for _, t in routes.values()}, available or [])
        main = routes.get("ANTHROPIC_MODEL")
        if main and (available is None or not available or has_model(available, main[1])):
            self.check_window(form.name, backend, gw, *main)

    def check_subagent_tiers(self, router: ModelRouter) -> None:
        """Subagents ask for the tier their definition names (the built-in Explore agent: haiku), and
        background work for haiku: each tier Claude Code still names with a Claude id must be routed."""
        if self.env.get("CLAUDE_CODE_SUBAGENT_MODEL"):
            tiers = ["haiku"]  # every subagent runs that model; background work still asks for haiku
        else:
            tiers = list(TIERS)
        loose = [t for t in tiers if not self.env.get(TIER_VARS[t]) and router.mapped(f"claude-{t}") is None]
        if not loose:
            self.add("pass", "subagents reach a model", "every Claude tier they may ask for is routed or set")
            return
        # haiku is asked for by the built-in Explore subagent and by background work: it fails for sure;
        # the others only when a subagent's definition names them.
        status = "fail" if "haiku" in loose else "warn"
        example = loose[0]
        self.add(status, f"subagents asking for the {', '.join(loose)} tier reach the backend as Claude ids",
                 f"Claude Code sends claude-{example}-… for a subagent whose definition says model: {example}"
                 f"{' (and for background work)' if example == 'haiku' else ''}; the gateway's model_map does "
                 f"not route {'them' if len(loose) > 1 else 'it'}",
                 f"restart the gateway with MODEL_MAP={','.join(f'{t}=<model>' for t in loose)} (or MODEL=<model>), "
                 f"or export {' '.join(TIER_VARS[t] + '=<model>' for t in loose)} "
                 f"(and CLAUDE_CODE_SUBAGENT_MODEL=<model> for every subagent)")

    def check_window(self, form: str, backend: str, gw: dict[str, Any], requested: str, target: str) -> None:
        """Does Claude Code know the window the backend will really use? It assumes 1M tokens for a
        model it does not recognise, and then never compacts before the backend truncates or refuses."""
        from .client_env import AUTO_COMPACT_MINIMUM
        from .probe import discover

        facts: ModelFacts = discover(get_form(form), backend, target,
                                     options=TranslateOptions(num_ctx=int(gw.get("num_ctx") or 0)), timeout=self.timeout)
        if gw.get("max_context"):
            facts = facts.with_window(int(gw["max_context"]), "the gateway's --set max_context")
        told = self.env.get("CLAUDE_CODE_MAX_CONTEXT_TOKENS", "").strip()
        compact = self.env.get("CLAUDE_CODE_AUTO_COMPACT_WINDOW", "").strip()
        if facts.window is None:
            self.add("warn", f"the backend does not say {target}'s context window",
                     "Claude Code will assume 1M tokens for a model it does not know",
                     "export CLAUDE_CODE_MAX_CONTEXT_TOKENS=<the model's context window>")
            return
        window, source = facts.window, facts.window_source
        fix = f"export CLAUDE_CODE_MAX_CONTEXT_TOKENS={window}" + (
            f" CLAUDE_CODE_AUTO_COMPACT_WINDOW={window}" if window >= AUTO_COMPACT_MINIMUM else "")
        if requested.startswith("claude") and window < AUTO_COMPACT_MINIMUM:
            self.add("warn", f"Claude Code asks for {requested}, whose window it believes is ≥ 200k; the backend's "
                     f"is {window:,} ({source})", "for a model it knows, Claude Code keeps its own window, and "
                     "CLAUDE_CODE_AUTO_COMPACT_WINDOW cannot go under 100k",
                     f"export ANTHROPIC_MODEL={target} ANTHROPIC_DEFAULT_HAIKU_MODEL={target}, then {fix}")
        if not told.isdigit():
            self.add("warn", f"Claude Code does not know {target}'s context window: {window:,} tokens ({source})",
                     "it assumes 1M tokens, so it never auto-compacts before the backend truncates or refuses", fix)
        elif int(told) > window:
            self.add("fail", f"CLAUDE_CODE_MAX_CONTEXT_TOKENS={told}{self._from('CLAUDE_CODE_MAX_CONTEXT_TOKENS')} is "
                     f"larger than the backend's window of {window:,} tokens ({source})",
                     "requests will be refused before Claude Code compacts", fix)
        else:
            self.add("pass", f"CLAUDE_CODE_MAX_CONTEXT_TOKENS={told}{self._from('CLAUDE_CODE_MAX_CONTEXT_TOKENS')}",
                     f"the backend's window for {target} is {window:,} tokens ({source})")
        if told.isdigit():
            self.check_reservation(int(told), window, gw)
        if compact.isdigit() and int(compact) < AUTO_COMPACT_MINIMUM:
            self.add("warn", f"CLAUDE_CODE_AUTO_COMPACT_WINDOW={compact} is under Claude Code's minimum",
                     f"Claude Code raises it to {AUTO_COMPACT_MINIMUM:,} (and says so at every start)",
                     "unset CLAUDE_CODE_AUTO_COMPACT_WINDOW: CLAUDE_CODE_MAX_CONTEXT_TOKENS sizes auto-compaction")
        elif compact.isdigit() and int(compact) > window:
            self.add("warn", f"CLAUDE_CODE_AUTO_COMPACT_WINDOW={compact} is larger than the backend's window "
                     f"({window:,} tokens)", "Claude Code would compact only after the backend refuses", fix)

    def check_reservation(self, told: int, window: int, gw: dict[str, Any]) -> None:
        """Claude Code keeps min(CLAUDE_CODE_MAX_OUTPUT_TOKENS, 20,000) of the window it is told for its
        answer and sends nothing that does not fit the rest (client_env.py: measured). Does its first
        prompt fit? Do the requests it has sent, with that much answer, fit the backend's window?"""
        name = "CLAUDE_CODE_MAX_OUTPUT_TOKENS"
        value = self.env.get(name, "").strip()
        output = int(value) if value.isdigit() and int(value) > 0 else None
        limit = int(gw.get("max_tokens_limit") or 0)
        keeps, left = reserved(output), room(told, output)
        shown = f"{name}={value}{self._from(name)}" if output else f"{name} is not set"
        fix = f"export {name}={output_for(min(told, window), limit)}"
        if left < NEEDS["trimmed"]:
            self.add("fail", f"no prompt can fit: {shown}, so Claude Code keeps {keeps:,} of the {told:,}-token window "
                     f"for its answer", f"{max(left, 0):,} tokens are left and it needs {NEEDS['trimmed']:,} for the "
                     f"smallest prompt: it answers every one with \"Prompt is too long\" and never calls the gateway",
                     fix)
            return
        if left < NEEDS["full"]:
            self.add("warn", f"{shown}: Claude Code's default setup cannot start in a {told:,}-token window",
                     f"it keeps {keeps:,} for its answer; the {left:,} left take trimmed prompts (--tools \"\" "
                     f"--system-prompt …) but its default setup needs {NEEDS['full']:,}", fix)
        else:
            self.add("pass", f"{shown}", f"Claude Code keeps {keeps:,} of the window for its answer and has {left:,} "
                     f"for its prompts")
        if limit and output and output > limit:
            self.add("warn", f"{name}={output} is more than the gateway's cap on answers ({limit:,}, max_tokens_limit)",
                     f"{output - limit:,} tokens of the window are kept for an answer the gateway cuts anyway",
                     f"export {name}={limit}")
        largest = gw.get("largest_request")
        if isinstance(largest, dict) and isinstance(largest.get("input_tokens"), int):
            sent, how = largest["input_tokens"], "counted" if largest.get("exact") else "estimated"
            answer = min(output or DEFAULT_OUTPUT, limit) if limit else (output or DEFAULT_OUTPUT)
            if sent + answer > window:
                over = sent > window
                self.add("fail" if over else "warn",
                         f"Claude Code's largest request here is {sent:,} tokens ({how}): "
                         + ("more than the backend's window" if over else f"with {answer:,} for the answer, more "
                            f"than the backend's window") + f" of {window:,}",
                         "the gateway refuses what cannot fit (\"Prompt is too long\")" if over else
                         "the backend has no room left to answer it in full",
                         "a model with a larger window, or fewer tools (--tools) and a shorter system prompt")

    def _check_context(self, form: BackendForm, backend: str, gw: dict[str, Any], models: set[str],
                       available: list[str]) -> None:
        num_ctx = int(gw.get("num_ctx") or 0)
        if advice := form.context_advice(num_ctx=num_ctx):
            self.add("warn", "the gateway sets no num_ctx", advice,
                     f"restart the gateway with {self.launcher.option('num_ctx', 65536)}")
        for model in sorted(m for m in models if has_model(available, m)):
            try:
                _, show = _get(backend + "/api/show", timeout=self.timeout, body={"model": model})
            except (urllib.error.URLError, OSError):
                continue
            info = (show or {}).get("model_info") or {} if isinstance(show, dict) else {}
            trained = next((v for k, v in info.items() if k.endswith(".context_length")), None)
            if isinstance(trained, int) and trained < MIN_CONTEXT:
                self.add("warn", f"{model} was trained for a {trained:,}-token context",
                         "Claude Code's prompt alone is ~15k tokens; answers will be poor or truncated",
                         "pick a model with a ≥ 32k context (qwen3, qwen2.5-coder, llama3.1…)")
            elif isinstance(trained, int) and num_ctx and num_ctx < MIN_CONTEXT:
                self.add("warn", f"num_ctx={num_ctx} is smaller than Claude Code's prompt",
                         f"{model} supports {trained:,}",
                         f"restart the gateway with {self.launcher.option('num_ctx', min(trained, 65536))}")

    def check_claude_code(self) -> None:
        exe = self.claude or shutil.which("claude")
        if not exe:
            self.add("warn", "Claude Code is not on PATH", "",
                     "npm install -g @anthropic-ai/claude-code")
            return
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=15).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            self.add("warn", f"{exe} did not answer --version", str(e))
            return
        self.add("pass", f"Claude Code {out.split()[0] if out else '?'}", exe)


def has_model(available: list[str], model: str) -> bool:
    return model in available or f"{model}:latest" in available or any(a.split(":")[0] == model for a in available
                                                                      if ":" not in model and a.endswith(":latest"))
