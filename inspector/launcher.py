"""How the user started the gateway, so that every fix is written the way they would type it:
``MODEL=qwen3`` for ``make run``, ``--model qwen3`` for ``inspector run``, ``--set model=qwen3`` for
``mitmdump -s addons/translate.py``.

``make run`` sets ``INSPECTOR_LAUNCHER=make`` for the ``inspector run`` it starts; ``inspector run``
sets ``inspector`` when nothing has; the gateway (mitmdump) inherits it, reports it in
``/_inspector/status`` (so ``inspector doctor`` speaks the same way) and reads ``mitmdump`` when it
is unset: mitmdump was started by hand.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["LAUNCHER_ENV", "Launcher"]

LAUNCHER_ENV = "INSPECTOR_LAUNCHER"
Kind = Literal["make", "inspector", "mitmdump"]

#: gateway option → (make variable, inspector run flag, mitmdump spelling); None: make has no
#: variable of its own (it goes through ARGS).
_SPELLINGS: dict[str, tuple[str | None, str, str]] = {
    "model": ("MODEL", "--model", "--set model="),
    "model_map": ("MODEL_MAP", "--model-map", "--set model_map="),
    "backend": ("BACKEND", "--backend", "--set backend="),
    "backend_url": ("BACKEND_URL", "--backend-url", "--set backend_url="),
    "num_ctx": ("NUM_CTX", "--num-ctx", "--set num_ctx="),
    "port": ("PORT", "--port", "-p "),
    "host": ("HOST", "--host", "--listen-host "),
    "max_context": (None, "--max-context", "--set max_context="),
    "max_tokens_limit": (None, "--max-tokens-limit", "--set max_tokens_limit="),
}


@dataclass(frozen=True, slots=True)
class Launcher:
    kind: Kind = "mitmdump"

    @classmethod
    def current(cls, env: Mapping[str, str] | None = None) -> Launcher:
        value = (os.environ if env is None else env).get(LAUNCHER_ENV, "")
        return cls(value) if value in ("make", "inspector", "mitmdump") else cls()  # type: ignore[arg-type]

    @property
    def command(self) -> str:
        return {"make": "make run", "inspector": "inspector run",
                "mitmdump": "mitmdump -s addons/translate.py"}[self.kind]

    def option(self, name: str, value: object) -> str:
        """``name=value`` as this launcher takes it: ``MODEL=qwen3``, ``--model qwen3``, ``--set model=qwen3``."""
        make, flag, mitmdump = _SPELLINGS[name]
        text = str(value)
        if not (text.startswith("<") or text.isupper()):  # a placeholder is shown as it is
            text = shlex.quote(text)
        if self.kind == "make":
            return f"{make}={text}" if make else f"ARGS='{flag} {value}'"
        if self.kind == "inspector":
            return f"{flag} {text}"
        return f"{mitmdump}{text}"

    def restart(self, *options: tuple[str, object]) -> str:
        """The command again with these options: ``make run MODEL=qwen3 PORT=4001``."""
        return " ".join([self.command, *(self.option(name, value) for name, value in options)])
