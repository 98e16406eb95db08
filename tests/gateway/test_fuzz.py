"""14.8 through the real gateway: every malformed request gets a 4xx naming the field, and is recorded;
every well-formed one is answered. Requests are the Messages API's shape (``SPEC``), then mutated."""

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from inspector.protocol import FORM_NAMES
from inspector.recording import list_sessions
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import Gateway
from inspector.testing.profiles import examples
from inspector.testing.request_shapes import mutated_requests, names_a_problem, spec_problems

pytestmark = pytest.mark.e2e
SENT: dict[str, list[int]] = {}


@pytest.fixture(scope="module", params=FORM_NAMES)
def gateway(request, tmp_path_factory):
    form = request.param
    record_dir = tmp_path_factory.mktemp(f"fuzz-{form}")
    with ScriptedBackend(form, [Reply(text="fine")]) as backend:
        with Gateway(backend.url, backend=form, model="q", record_dir=str(record_dir)) as gw:
            with httpx.Client(base_url=gw.url, timeout=30) as client:
                yield form, client, record_dir
    statuses = SENT.pop(form, [])
    # Every request, refused or answered, was recorded.
    recorded = [e for s in list_sessions(record_dir) for e in s.exchanges()]
    assert len(recorded) == len(statuses) and all(e.complete for e in recorded)
    assert sorted(e.meta["status"]["client"] for e in recorded) == sorted(statuses)


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=mutated_requests())
def test_malformed_requests_are_400s_naming_the_field_and_recorded(gateway, body):
    form, client, _ = gateway
    body = {**body, "stream": False} if isinstance(body, dict) and body.get("stream") is True else body
    r = client.post("/v1/messages", content=orjson.dumps(body), headers={"content-type": "application/json"})
    SENT.setdefault(form, []).append(r.status_code)
    problems = spec_problems(body)
    if problems:
        assert r.status_code == 400, (problems, r.text)
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and names_a_problem(error["message"], problems)
    else:
        assert r.status_code == 200, r.text
