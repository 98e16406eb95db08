"""``Exchange`` (one exchange's state; its summary is exchange.json) and ``Listeners`` (typed calls to
the recorder, the colour log, exporters): an exchange ends once, when its last holder lets go, and a
listener's bug is said once and never reaches the traffic."""

import logging
import time

from inspector.gateway.exchange import Exchange, ExchangeListener, Listeners
from inspector.protocol import get_form
from inspector.recording import ExchangeMeta


class Tape:
    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.calls: list[tuple] = []

    def _maybe(self, what: str) -> None:
        if what == self.fail:
            raise RuntimeError(f"bug in {what}")

    def exchange_started(self, ex):
        self.calls.append(("started",))
        self._maybe("started")

    def exchange_response(self, ex, direction, status, headers):
        self.calls.append(("response", direction, status))
        self._maybe("response")

    def exchange_chunk(self, ex, direction, data):
        self.calls.append(("chunk", direction, data))
        self._maybe("chunk")

    def exchange_ended(self, ex):
        self.calls.append(("ended", ex.final["status"]["client"]))
        self._maybe("ended")


def exchange() -> Exchange:
    return Exchange(form=get_form("ollama"), kind="messages", client_model="claude-x", backend_model="q")


def test_any_object_with_the_four_methods_is_a_listener():
    assert isinstance(Tape(), ExchangeListener) and not isinstance(object(), ExchangeListener)


def test_the_exchange_ends_once_when_its_last_holder_lets_go():
    tape = Tape()
    tell = Listeners([tape])
    ex = exchange()
    ex.holds = 2
    tell.started(ex)
    tell.response(ex, "backend", 200, [])
    tell.response(ex, "client", 200, [])
    tell.chunk(ex, "client", b"data")
    assert tell.release(ex) is None and ex.final is None, "the other holder is still working"
    summary = tell.release(ex)
    assert summary is ex.final and summary is not None
    assert tell.ended(ex) is summary, "ending again changes nothing and tells nobody"
    assert tape.calls == [("started",), ("response", "backend", 200), ("response", "client", 200),
                          ("chunk", "client", b"data"), ("ended", 200)]
    assert (ex.backend_status, ex.client_status) == (200, 200)


def test_an_exchange_that_never_started_is_told_started_before_it_ends():
    tape = Tape()
    ex = exchange()
    ex.holds = 1
    Listeners([tape]).release(ex)
    assert [c[0] for c in tape.calls] == ["started", "ended"]


def test_a_listeners_bug_is_logged_once_and_the_others_still_hear(caplog):
    broken, fine = Tape(fail="chunk"), Tape()
    tell = Listeners([broken, fine])
    ex = exchange()
    with caplog.at_level(logging.ERROR, logger="inspector"):
        for _ in range(3):
            tell.chunk(ex, "backend", b"x")
    assert len([c for c in fine.calls if c[0] == "chunk"]) == 3
    said = [r.getMessage() for r in caplog.records]
    assert said == ["gateway: Tape.exchange_chunk failed (traffic unaffected; said once)"]


def test_the_summary_is_exchange_json_typed_and_times_are_from_the_start():
    ex = exchange()
    ex.started = time.monotonic() - 1.0
    ex.first_byte = ex.started + 0.25
    ex.ended = ex.started + 0.5
    ex.notes.repaired("broken JSON closed", rule="args:invalid-json")
    ex.notes.repaired("broken JSON closed", rule="args:invalid-json")
    s: ExchangeMeta = ex.summary()
    assert s["timing_ms"] == {"backend_first_byte": 250.0, "first_token": None, "total": 500.0}
    assert s["notes"] == [{"kind": "repaired", "message": "broken JSON closed", "count": 2, "rule": "args:invalid-json"}]
    assert s["model"] == {"requested": "claude-x", "backend": "q"} and s["form"] == "ollama"
    assert set(s) <= set(ExchangeMeta.__annotations__), "every key is one the schema's reader knows"
