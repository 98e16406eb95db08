"""The mitmproxy side: one addon per concern, and the pipeline a chunk takes.

``guard``     fail_closed — a hook that raises ends its flow with an Anthropic error; refusals unread
``deadline``  HeaderDeadline — a client has header_timeout seconds to send each request head
``auth``      GatewayAuth — loopback by default, a token when exposed
``relay``     Relay — the loopback hop; runs each exchange through ``pipeline``
``queue``     Queues, QueueOptions — per backend: at most its slots at once, the rest wait by priority
``admission`` Admission — the gateway's options; route, discover, count, refuse: the form prepares the backend call
``reask``     Ladder — the repair ladder's re-ask: a call that cannot be repaired is asked for again, constrained
``side``      SideTraffic — count_tokens, models, hello, telemetry, status answered locally
``gateway``   Gateway — calls the backend answers, admitted and sent to the relay (the mitmproxy adapter)
``observer``  Observer — regular mode without a backend_url: Anthropic's API inspected as it goes
``discovery`` Discovery — each routed model's real context window, capabilities and tokenizer, asked once
``tokens``    TokenBook, PrefixBook — estimates corrected by real counts; the previous request, for prefix stability
``recorder``  Recorder — every exchange saved (inspector/recording/SCHEMA.md)
``colourlog`` ColourLog — one line per exchange in the terminal
``otlp``      OtlpExport — every exchange as an OpenTelemetry GenAI span and metrics
``webflows``  WebFlows — mitmweb's flow list: the client's flow as it came, the backend's beside it
``replayer``  Replayer — answers from recordings (the replay script)
"""

from __future__ import annotations

from typing import Any

__all__ = ["all_addons", "replay_addons"]


def all_addons() -> list[Any]:
    """The gateway's addons, in hook order (``addons/translate.py`` registers exactly these)."""
    from .admission import Admission
    from .auth import GatewayAuth
    from .colourlog import ColourLog
    from .deadline import HeaderDeadline
    from .gateway import Gateway
    from .observer import Observer
    from .otlp import OtlpExport
    from .queue import QueueOptions
    from .reask import Ladder
    from .recorder import Recorder
    from .relay import Relay
    from .side import SideTraffic
    from .tokens import TokenBook
    from .webflows import WebFlows

    relay = Relay()
    tokens = TokenBook()
    admission = Admission(relay.client, tokens, queues=relay.pipeline.queues)
    admission.ladder = ladder = Ladder()
    # Listeners (recorder, colour log, OpenTelemetry export, the token book) are found by the relay at
    # start: any loaded addon with the four exchange_* methods is told about every exchange.
    return [HeaderDeadline(), GatewayAuth(relay), relay, QueueOptions(relay.pipeline.queues), Recorder(), ColourLog(),
            OtlpExport(), WebFlows(), tokens, ladder, admission, SideTraffic(admission, relay.listeners),
            Observer(admission, relay.listeners), Gateway(relay, admission)]


def replay_addons() -> list[Any]:
    """The replay server's addons (``addons/replay.py``)."""
    from .auth import GatewayAuth
    from .deadline import HeaderDeadline
    from .replayer import Replayer

    replayer = Replayer()
    return [HeaderDeadline(), GatewayAuth(replayer), replayer]
