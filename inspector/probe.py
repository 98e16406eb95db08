"""Ask a backend about a model, synchronously (``inspector run``, ``inspector doctor``).

The same questions and the same reading of the answers as the gateway's asynchronous
``Discovery``: both drive the backend form's ``discover`` steps (``inspector.protocol``); only
the transport differs (urllib here, short timeouts, nothing cached).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from .protocol import Answer, BackendForm, ModelFacts, Probe, TranslateOptions, run_steps

__all__ = ["ask", "discover"]


def ask(origin: str, probes: list[Probe], *, timeout: float = 2.0) -> list[Answer]:
    """Each probe's answer (status 0 when nothing answered in ``timeout`` seconds)."""
    answers = []
    for probe in probes:
        data = json.dumps(probe.body).encode() if probe.body is not None else None
        req = urllib.request.Request(origin + probe.path, data=data, method=probe.method,
                                     headers={"content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read(4 << 20)
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read(1 << 20)
        except (urllib.error.URLError, OSError, ValueError):
            answers.append(Answer(0))
            continue
        try:
            answers.append(Answer(status, json.loads(raw) if raw else None))
        except ValueError:
            answers.append(Answer(status))
    return answers


def discover(form: BackendForm, backend_url: str, model: str, *, options: TranslateOptions | None = None,
             timeout: float = 2.0) -> ModelFacts:
    """What ``form``'s backend at ``backend_url`` says about ``model``."""
    options = options if options is not None else TranslateOptions()
    parts = urlsplit(backend_url.rstrip("/"))
    origin, base_path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    facts = run_steps(form.discover(model, options=options, base_path=base_path),
                      lambda probes: ask(origin, probes, timeout=timeout))
    return facts if isinstance(facts, ModelFacts) else ModelFacts(model)
