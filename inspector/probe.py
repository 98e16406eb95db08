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

from .launcher import Launcher
from .protocol import FORMS, Answer, BackendForm, ModelFacts, Probe, TranslateOptions, run_steps

__all__ = ["Listing", "ask", "backend_problems", "discover", "listing", "looks_like"]


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


class Listing:
    """What ``GET models_path`` said: ``status`` 0 when nothing answered (``reason`` says why),
    ``models`` None when the answer was not that form's listing."""

    __slots__ = ("status", "models", "reason", "timed_out")

    def __init__(self, status: int, models: list[str] | None = None, reason: str = "",
                 timed_out: bool = False) -> None:
        self.status, self.models, self.reason, self.timed_out = status, models, reason, timed_out

    @property
    def answered(self) -> bool:
        return self.status != 0


def listing(form: BackendForm, backend_url: str, *, timeout: float = 1.5) -> Listing:
    """The models ``form``'s backend at ``backend_url`` lists (Ollama /api/tags, /v1/models)."""
    parts = urlsplit(backend_url.rstrip("/"))
    url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{form.models_path}"
    req = urllib.request.Request(url, headers={"accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read(4 << 20)
    except urllib.error.HTTPError as e:
        return Listing(e.code, reason=f"HTTP {e.code} on GET {parts.path.rstrip('/')}{form.models_path}")
    except TimeoutError:
        return Listing(0, reason=f"no answer within {timeout:g} s", timed_out=True)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        timed_out = isinstance(reason, TimeoutError)
        return Listing(0, reason=f"no answer within {timeout:g} s" if timed_out else str(reason),
                       timed_out=timed_out)
    try:
        models = form.model_names(json.loads(raw))
    except ValueError:
        models = None
    return Listing(status, models)


def looks_like(backend_url: str, *, timeout: float = 1.5, but: BackendForm | None = None) -> BackendForm | None:
    """The first translating form (other than ``but``) whose model listing this backend answers:
    Ollama's ``/api/tags`` before ``/v1/models``, which Ollama answers too."""
    for form in FORMS.values():
        if form is not but and form.needs_backend_model and listing(form, backend_url, timeout=timeout).models is not None:
            return form
    return None


def backend_problems(form: BackendForm, backend_url: str, models: list[str], launcher: Launcher, *,
                     timeout: float = 1.5) -> tuple[Listing, list[str]]:
    """What doctor would say about a translated backend, said at start (``inspector run``, the
    gateway's own start): nothing answers; it answers in another form (404, or not a listing, on
    the path probed — and which form it looks like); ``models`` it does not have. Fixes are spelt
    for ``launcher``."""
    from .doctor import has_model

    said = listing(form, backend_url, timeout=timeout)
    problems = []
    if not said.answered:
        problems.append(f"nothing answers at {backend_url} ({said.reason}): {form.start_hint}, or restart with "
                        f"{launcher.option('backend_url', '<where it runs>')}. Claude Code will be told the same "
                        f"until it does.")
    elif said.models is None:
        other = looks_like(backend_url, timeout=timeout, but=form)
        what = (f"it looks like an {other.label} server ({other.models_path} answers): restart with "
                f"{launcher.restart(('backend', other.name), ('backend_url', backend_url))}"
                if other is not None else "nor any other form's model listing: is it the server you meant?")
        answer = f"it answered HTTP {said.status} to" if said.status != 200 else "its answer to"
        problems.append(f"{backend_url} is not an {form.label} backend: {answer} GET {form.models_path} is not "
                        f"{form.label}'s model listing; {what}")
    elif said.models is not None:
        for model in models:
            if model and not has_model(said.models, model):
                choices = ", ".join(said.models[:5]) or "none"
                problems.append(f"the backend does not have {model} (it has: {choices}): "
                                f"{form.missing_model_fix(model)}, or restart with "
                                f"{launcher.option('model', said.models[0] if said.models else 'NAME')}")
    return said, problems
