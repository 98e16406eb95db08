"""Subagents reach a model: every id Claude Code asks for maps through model_map's tiers, and one
that cannot be mapped gets a 400 naming what routes it — never a 404, whose message Claude Code
replaces with its own (reference §3)."""

import asyncio

import pytest

from inspector.protocol import FORM_NAMES
from inspector.testing.backends import Received, Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

ASKED = ["claude-haiku-4-5-20251001", "claude-haiku-5-5", "claude-sonnet-4-5", "claude-opus-5-5",
         "claude-sonnet-4-5[1m]", "claude-fable-5-2"]


def only(models: set[str], form: str):
    """A server that has ``models`` and answers the others as it does (Ollama 404 "not found",
    vLLM 404 NotFoundError, an Anthropic-native server's not_found_error)."""

    def brain(rec: Received) -> Reply:
        model = rec.body.get("model")
        if model in models:
            return Reply(text=f"{model} here")
        return Reply(status=404, error=f"model '{model}' not found")

    return brain


def ask(model: str) -> dict:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def send_all(backend_url: str, form: str, models: list[str], **options) -> list:
    async def go():
        async with InProcessGateway(backend_url, backend=form, **options) as gw:
            return [await gw.send("POST", "/v1/messages", json=ask(m),
                                  headers={"x-claude-code-agent-id": "a1"}) for m in models]

    return asyncio.run(go())


@pytest.mark.parametrize("form", FORM_NAMES)
def test_every_tier_and_spelling_reaches_the_model_its_tier_maps_to(form):
    with ScriptedBackend(form, only({"small", "big", "huge", "odd"}, form)) as backend:
        results = send_all(backend.url, form, ASKED, model_map="haiku=small,sonnet=big,opus=huge,fable=odd")
        sent = [r.body["model"] for r in backend.chat_requests]
    assert [r.status for r in results] == [200] * len(ASKED)
    assert sent == ["small", "small", "big", "huge", "big", "odd"]


@pytest.mark.parametrize("form", FORM_NAMES)
def test_an_unmapped_tier_is_a_400_that_names_the_option_and_the_variable(form):
    with ScriptedBackend(form, only({"big"}, form)) as backend:
        (haiku, sonnet) = send_all(backend.url, form, ["claude-haiku-4-5-20251001", "claude-sonnet-4-5"],
                                   model_map="sonnet=big")
    assert sonnet.status == 200
    assert haiku.status == 400, "never a 404: Claude Code would show its own words instead"
    message = haiku.json()["error"]["message"]
    assert haiku.json()["error"]["type"] == "invalid_request_error"
    for words in ("--set model_map=haiku=MODEL", "MODEL_MAP=haiku=MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL=MODEL",
                  "CLAUDE_CODE_SUBAGENT_MODEL=MODEL"):
        assert words in message, (words, message)
    assert "ollama pull" not in message, "pulling a Claude id is no fix"
