"""``inspector run``'s mitmproxy: mitmdump as it is, its idle built-in addons left out of the hook chain.

mitmdump hands every event of every flow — ``requestheaders``, ``request``, ``responseheaders``,
``response``, and an ``update`` after each — to every one of its ~35 built-in addons, and most of
them do nothing unless an option turns them on (``map_remote``, ``modify_headers``,
``server_replay``…). ``LeanDumpMaster`` loads them all, as mitmdump does — so every option exists,
``--set`` and ``-s`` scripts work, a config.yaml is read — and once the options are final
(``running``) leaves out of the chain each one whose options leave it idle. One an option turns on
stays, and so does everything the proxy itself needs. On the 2-core bench machine it took ≈0.5 ms of
the gateway's CPU per request off (README, Performance).

``python -m inspector.gateway.master ARGS`` takes mitmdump's arguments. ``inspector run`` and ``make
run`` start the gateway this way; ``mitmdump -s addons/translate.py`` still works as it always did.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mitmproxy import ctx
from mitmproxy.tools import cmdline
from mitmproxy.tools.dump import DumpMaster
from mitmproxy.tools.main import run

__all__ = ["IDLE", "LeanDumpMaster", "idle_addons", "main"]

log = logging.getLogger("inspector")


def _modes(o: Any, kind: str) -> bool:
    return any(str(m).split(":", 1)[0].split("@", 1)[0] == kind for m in o.mode)


#: Built-in addons, by class name, and when the options leave them idle (nothing for them to do in
#: this run). Commands they registered stay registered; a hook of theirs is simply not called.
IDLE: dict[str, Callable[[Any], bool]] = {
    # Commands and the console only: nothing mitmdump calls per flow.
    "Browser": lambda o: True,
    "CommandHistory": lambda o: True,
    "Comment": lambda o: True,
    "Cut": lambda o: True,
    "Export": lambda o: True,
    # DNS mode only.
    "StripDnsHttpsRecords": lambda o: not _modes(o, "dns"),
    "DnsResolver": lambda o: not _modes(o, "dns"),
    # mitm.it serves the CA certificate to a client of a regular (HTTPS_PROXY) proxy.
    "Onboarding": lambda o: not o.onboarding or not (_modes(o, "regular") or _modes(o, "upstream")
                                                      or _modes(o, "transparent") or _modes(o, "local")),
    # Off unless an option turns them on.
    "BlockList": lambda o: not o.block_list,
    "AntiCache": lambda o: not o.anticache,
    "AntiComp": lambda o: not o.anticomp,
    "ClientPlayback": lambda o: not o.client_replay,
    "ServerPlayback": lambda o: not o.server_replay,
    "ProxyAuth": lambda o: not o.proxyauth,
    "MapRemote": lambda o: not o.map_remote,
    "MapLocal": lambda o: not o.map_local,
    "ModifyBody": lambda o: not o.modify_body,
    "ModifyHeaders": lambda o: not o.modify_headers,
    "StickyAuth": lambda o: not o.stickyauth,
    "StickyCookie": lambda o: not o.stickycookie,
    "Save": lambda o: not o.save_stream_file,
    "SaveHar": lambda o: not o.hardump,
    "UpstreamAuth": lambda o: not o.upstream_auth,
    "ReadFileStdin": lambda o: not o.rfile,
    # mitmproxy's own flow lines: the colour log turns them off (flow_detail 0) unless asked for.
    "Dumper": lambda o: o.flow_detail == 0,
}


def idle_addons(chain: Sequence[Any], options: Any) -> list[Any]:
    """The addons of ``chain`` the options leave idle (never one of ours, never one not in ``IDLE``)."""
    return [a for a in chain if type(a).__module__.startswith("mitmproxy.addons.")
            and (idle := IDLE.get(type(a).__name__)) is not None and idle(options)]


class _LeaveIdleOut:
    """Last in the chain: when the options are final, the idle built-ins leave it."""

    def running(self) -> None:
        addons = ctx.master.addons
        idle = idle_addons(addons.chain, ctx.options)
        if idle:
            gone = {id(a) for a in idle}
            addons.chain = [a for a in addons.chain if id(a) not in gone]
            log.debug(f"gateway: {len(idle)} idle mitmproxy addons left out of the hook chain: "
                      f"{', '.join(type(a).__name__ for a in idle)}")
        # What is loaded by now (mitmproxy, the addons, their options) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks it in the middle of a stream (make
        # bench, interleaved with the same tree without it: the added first-delta p99 for a 1 KB request
        # +4.6 ms against +5.9 ms, p50 unchanged).
        gc.collect()
        gc.freeze()


class LeanDumpMaster(DumpMaster):
    def __init__(self, options: Any, **kw: Any) -> None:
        super().__init__(options, **kw)
        self.addons.add(_LeaveIdleOut())


def main(argv: Sequence[str] | None = None) -> None:
    def extra(args: Any) -> dict[str, Any]:  # as mitmdump's: a filter expression filters what it names
        if args.filter_args:
            v = " ".join(args.filter_args)
            return {"save_stream_filter": v, "readfile_filter": v, "dumper_filter": v}
        return {}

    run(LeanDumpMaster, cmdline.mitmdump, sys.argv[1:] if argv is None else argv, extra)


if __name__ == "__main__":
    main()
