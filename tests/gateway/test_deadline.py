"""The ``HeaderDeadline`` addon (issue 19, item 11): a client has ``header_timeout`` to send each
request head — from connecting, and from the end of each answer on a kept-alive connection. In
process with the clock's callback observed; the real mitmdump closing a trickling client is in
``test_hostile.py``."""

import asyncio

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow

import inspector.gateway.deadline as deadline_module
from inspector.gateway.deadline import HeaderDeadline

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def closed(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(deadline_module, "close", lambda client: seen.append(client.id) or True)
    return seen


async def until(what, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if what():
            return
        await asyncio.sleep(0.01)


async def test_a_client_that_sends_no_head_in_time_is_closed(closed, caplog):
    d = HeaderDeadline()
    with taddons.context(d) as tctx:
        tctx.configure(d, header_timeout="0.05")
        flow = tflow.tflow()
        d.client_connected(flow.client_conn)
        await until(lambda: closed)
    assert closed == [flow.client_conn.id]
    assert "closed 1 connection that sent no request head within 0.05 s" in caplog.text


async def test_the_head_stops_the_clock_and_the_answers_end_starts_it_again(closed):
    d = HeaderDeadline()
    with taddons.context(d) as tctx:
        tctx.configure(d, header_timeout="0.1")
        flow = tflow.tflow()
        d.client_connected(flow.client_conn)
        d.requestheaders(flow)  # the head came: however long the answer takes, the clock is stopped
        await asyncio.sleep(0.3)
        assert closed == []
        d.response(flow)  # kept alive: the next head is due in time too
        await until(lambda: closed)
        assert closed == [flow.client_conn.id]


async def test_a_disconnected_client_leaves_no_clock_behind(closed):
    d = HeaderDeadline()
    with taddons.context(d) as tctx:
        tctx.configure(d, header_timeout="0.05")
        flow = tflow.tflow()
        d.client_connected(flow.client_conn)
        d.client_disconnected(flow.client_conn)
        await asyncio.sleep(0.2)
    assert closed == [] and d._timers == {}


def test_header_timeout_must_be_a_positive_number():
    d = HeaderDeadline()
    with taddons.context(d) as tctx:
        with pytest.raises(exceptions.OptionsError, match="header_timeout"):
            tctx.configure(d, header_timeout="soon")
