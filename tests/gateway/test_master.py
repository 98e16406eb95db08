"""``inspector run``'s master (``inspector/gateway/master.py``): mitmdump's, its idle built-ins left out of
the hook chain — every option still there, an addon an option turns on kept, ``-s`` scripts loaded."""

import asyncio

import httpx
import pytest
from mitmproxy import options
from mitmproxy.tools.dump import DumpMaster

from inspector.cli import build_parser, gateway_command
from inspector.gateway.master import IDLE, idle_addons
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import Gateway

ASK = {"model": "claude-sonnet-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def _idle(**set_options):
    async def go():
        opts = options.Options()
        master = DumpMaster(opts)
        opts.update(**set_options)
        return [type(a).__name__ for a in idle_addons(master.addons.chain, opts)]
    return asyncio.run(go())


def test_a_reverse_gateway_leaves_out_what_nothing_turned_on():
    idle = _idle(mode=["reverse:http://127.0.0.1:11434"], flow_detail=0)
    assert {"MapRemote", "ModifyHeaders", "ServerPlayback", "Save", "Onboarding", "Dumper", "ProxyAuth"} <= set(idle)
    # What the proxy itself needs is never left out.
    assert not {"Core", "Proxyserver", "NextLayer", "TlsConfig", "ScriptLoader", "Block", "ErrorCheck",
                "KeepServing", "TermLog", "DisableH2C", "UpdateAltSvc"} & set(idle)
    assert set(idle) <= set(IDLE)


@pytest.mark.parametrize(("option", "value", "kept"), [
    ("modify_headers", ["/~q/x-added/1"], "ModifyHeaders"), ("map_remote", ["|example.com|example.org"], "MapRemote"),
    ("save_stream_file", "/tmp/flows", "Save"), ("proxyauth", "user:pass", "ProxyAuth"),
    ("flow_detail", 1, "Dumper"), ("mode", ["regular"], "Onboarding"), ("anticache", True, "AntiCache"),
])
def test_an_addon_an_option_turns_on_stays(option, value, kept):
    base = {"mode": ["reverse:http://127.0.0.1:11434"], "flow_detail": 0}
    assert kept in _idle(**base)
    assert kept not in _idle(**{**base, option: value})


def test_inspector_run_starts_the_lean_master_with_mitmdumps_arguments():
    args = build_parser().parse_args(["run", "--backend", "openai"])
    args.mitmdump_args = ["--set", "ping_interval=2"]
    cmd = gateway_command(args)
    assert cmd[1:4] == ["-m", "inspector.gateway.master", "-s"] and cmd[-2:] == ["--set", "ping_interval=2"]


@pytest.mark.e2e
def test_the_lean_gateway_answers_and_keeps_options_and_scripts(tmp_path):
    """Started as ``inspector run`` starts it, with an option that turns a built-in on (save_stream_file:
    mitmdump -w) and a second ``-s`` script: the answer is translated, the flow saved, the script's hook ran."""
    script = tmp_path / "mark.py"
    seen, flows = tmp_path / "seen", tmp_path / "flows"
    script.write_text(f"class Mark:\n    def response(self, flow):\n        open({str(seen)!r}, 'a').write('x')\n"
                      f"addons = [Mark()]\n")
    with ScriptedBackend("ollama", [Reply(text="hello")]) as backend, \
            Gateway(backend.url, model="qwen3", lean=True, record=False,
                    extra=("-s", str(script), "--set", f"save_stream_file={flows}")) as gw:
        r = httpx.post(gw.url + "/v1/messages", json=ASK, timeout=30,
                       headers={"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"})
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "hello"
        assert "x-inspector-overhead-ms" in r.headers
    assert seen.read_text() == "x"
    assert flows.stat().st_size > 0  # the Save addon stayed: an option turned it on
