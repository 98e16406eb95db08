"""Run the real gateway (``mitmdump -s addons/translate.py``) as a subprocess for a test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MITMDUMP = Path(sys.executable).parent / "mitmdump"
#: The gateway script: the repository's, else the one shipped in the package.
SCRIPT = ROOT / "addons" / "translate.py"
if not SCRIPT.exists():
    SCRIPT = Path(__file__).resolve().parent.parent / "gateway" / "script.py"
REPLAY_SCRIPT = ROOT / "addons" / "replay.py"
if not REPLAY_SCRIPT.exists():
    REPLAY_SCRIPT = Path(__file__).resolve().parent.parent / "gateway" / "replay_script.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


class Gateway:
    """``with Gateway(backend_url, backend="ollama", model="qwen3") as gw: gw.url``."""

    def __init__(self, target: str, *, backend: str | None = "ollama", mode: str = "reverse",
                 script: Path | None = None, lean: bool = False, extra: tuple[str, ...] = (),
                 **options: object) -> None:
        """``lean``: started as ``inspector run`` starts it (``python -m inspector.gateway.master``), not
        by mitmdump; ``extra``: more mitmdump arguments."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path: Path | None = None
        launcher = [sys.executable, "-m", "inspector.gateway.master"] if lean else [str(MITMDUMP)]
        args = [*launcher, "-q" if options.pop("quiet", False) else "--flow-detail=0", *extra,
                "-s", str(script or SCRIPT),
                "--listen-host", "127.0.0.1", "-p", str(self.port)]
        if backend:
            args += ["--set", f"backend={backend}"]
        if mode == "reverse":
            args += ["--mode", f"reverse:{target}"]
        else:
            args += ["--mode", "regular", "--set", f"backend_url={target}"] if target else ["--mode", "regular"]
        if backend and "record_dir" not in options and "record" not in options:
            import tempfile
            options["record_dir"] = tempfile.mkdtemp(prefix="recordings-")
        self.record_dir = Path(str(options.get("record_dir", ""))) if options.get("record_dir") else None
        for key, value in options.items():
            if isinstance(value, bool):
                value = str(value).lower()
            args += ["--set", f"{key}={value}"]
        self.args = args

    def __enter__(self) -> Gateway:
        import tempfile
        self._log = tempfile.NamedTemporaryFile(prefix="mitmdump-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=ROOT if (ROOT / "addons").is_dir() else None)
        try:
            wait_port(self.port, proc=self.proc)
        except Exception:  # noqa: BLE001 - whatever it was, the log says why
            self.proc.kill()
            raise RuntimeError(f"gateway did not start:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
