"""Claude Code's own gateway (``claude gateway --config FILE``), run by the pinned binary on a
throwaway PostgreSQL cluster, for the contract it serves at ``GET /protocol``.

``with ClaudeGateway(claude_binary()) as gw: gw.protocol()`` — the markdown the binary serves, "so
it always matches the version you're running". The gateway needs a PostgreSQL store, and starts
without an identity provider when customer-routed inference (CRI) is enabled; the config is the
smallest the binary accepts (its schema names each missing field: ``upstreams``, ``session``,
``store``). The cluster is ``initdb``'d into a temporary folder, listens on a free loopback port
with its unix socket in that folder, trusts local connections, and is removed afterwards. PostgreSQL
refuses to run as root, so as root it runs as the ``postgres`` user Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx

from .gateway import free_port, wait_port

__all__ = ["ClaudeGateway", "Postgres", "postgres_bin", "why_no_postgres"]

#: What to install where it is missing (``make test`` does, as root with apt-get).
INSTALL_HINT = "apt-get install postgresql (make test installs it when it runs as root)"


def postgres_bin() -> Path | None:
    """The folder with ``initdb``/``pg_ctl``: Debian's versioned one, else the ``PATH``'s."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(found).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _run_as() -> str | None:
    """The user the cluster runs as: none (ourselves) unless we are root, then ``postgres``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def why_no_postgres() -> str | None:
    """Why a cluster cannot be started here (None: it can)."""
    if postgres_bin() is None:
        return f"PostgreSQL is not installed (no initdb): {INSTALL_HINT}"
    if os.geteuid() == 0 and (_run_as() is None or shutil.which("runuser") is None):
        return "running as root with no postgres user (or no runuser) to run PostgreSQL as"
    return None


class Postgres:
    """A throwaway cluster: ``with Postgres() as pg: pg.url``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="claude-gateway-pg-"))
        self.data = self.root / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._user = _run_as()
        self._bin = postgres_bin()

    def _cmd(self, *args: str) -> list[str]:
        assert self._bin is not None
        cmd = [str(self._bin / args[0]), *args[1:]]
        return ["runuser", "-u", self._user, "--", *cmd] if self._user else cmd

    def __enter__(self) -> Postgres:
        why = why_no_postgres()
        if why:
            raise RuntimeError(why)
        if self._user:
            shutil.chown(self.root, user=self._user)
        try:
            subprocess.run(self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                     "--no-sync"), check=True, capture_output=True, text=True, timeout=120)
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                                     "-w", "-t", "60", "start"), check=True, capture_output=True, text=True,
                           timeout=90)
        except subprocess.CalledProcessError as e:
            log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
            self._remove()
            raise RuntimeError(f"PostgreSQL did not start: {e.stderr or e.stdout}\n{log}") from None
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)
        self._remove()

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class ClaudeGateway:
    """``claude gateway`` on a loopback port, with its own throwaway PostgreSQL."""

    def __init__(self, exe: Path, *, upstream_key: str = "sk-ant-api03-unused-by-these-tests") -> None:
        self.exe = exe
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstream_key = upstream_key
        self.postgres = Postgres()
        self.folder = Path(tempfile.mkdtemp(prefix="claude-gateway-"))
        self.log_path = self.folder / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        """The smallest config 2.1.328 starts with (YAML; JSON is YAML)."""
        import json
        return json.dumps({
            "listen": {"host": "127.0.0.1", "port": self.port},
            "upstreams": [{"provider": "anthropic", "auth": {"api_key": self.upstream_key}}],
            "session": {"jwt_secret": uuid.uuid4().hex + uuid.uuid4().hex},
            "store": {"postgres_url": self.postgres.url},
            # CRI admits Anthropic-minted tokens for this audience and org: no identity provider needed.
            "cri": {"enabled": True, "audience": ["claude-code-inspector-tests"],
                    "org_allowlist": [str(uuid.uuid4())]},
        }, indent=2)

    def __enter__(self) -> ClaudeGateway:
        self.postgres.__enter__()
        try:
            path = self.folder / "gateway.yaml"
            path.write_text(self.config())
            env = {"PATH": os.environ["PATH"], "HOME": str(self.folder), "TERM": "dumb",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
            with self.log_path.open("wb") as log:
                self.proc = subprocess.Popen([str(self.exe), "gateway", "--config", str(path)], cwd=self.folder,
                                             env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_port(self.port, timeout=90, proc=self.proc)
            except Exception as e:  # noqa: BLE001 - whatever it was, its log says why
                raise RuntimeError(f"claude gateway did not start ({e}):\n{self.log()}") from None
        except BaseException:
            self.__exit__()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def protocol(self) -> str:
        """``GET /protocol``: the contract, as served."""
        r = httpx.get(self.url + "/protocol", timeout=30)
        r.raise_for_status()
        return r.text

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.postgres.__exit__()
        shutil.rmtree(self.folder, ignore_errors=True)
