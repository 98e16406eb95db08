"""The embedded backend's server: llama-cpp-python's OpenAI-compatible server, plus three of
llama.cpp server's own endpoints so that it can say what llama-server says about itself
(tools/server/README.md):

* ``GET /props`` → ``default_generation_settings.n_ctx`` (the context window), ``chat_template``;
* ``POST /apply-template`` → ``{"prompt"}``: the messages rendered by the chat template the
  chat endpoint itself uses (llama-cpp-python's formatter for the GGUF's template);
* ``POST /tokenize`` → ``{"tokens"}``: that prompt through the model's own tokenizer.

llama-cpp-python's own ``/extras/tokenize/count`` counts a bare string: with no way to render the
chat template it cannot count a chat request. These routes can, exactly: the chat endpoint
formats with the same formatter and tokenizes with the same vocabulary. They bypass
llama-cpp-python's request lock on purpose: that lock interrupts a streaming completion whenever
another request arrives, and a count must never cut an answer short.

Run as a script (``python _embedded_app.py --model …``, the arguments of ``python -m
llama_cpp.server``): the embedded backend's process imports nothing of the inspector.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _formatter(llama: Any) -> Any:
    """The chat formatter llama-cpp-python's chat endpoint uses for this model (llama.py __init__
    builds the same one from the GGUF's template); None for its built-in formats (then no count)."""
    from llama_cpp import llama_chat_format

    if llama.chat_format != "chat_template.default" or "tokenizer.chat_template" not in llama.metadata:
        return None
    eos, bos = llama.token_eos(), llama.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "")


def add_llama_cpp_routes(app: Any) -> None:
    from fastapi import Body, HTTPException
    from llama_cpp.server import app as server

    def llama() -> Any:
        proxy = server._llama_proxy
        assert proxy is not None
        return proxy()

    @app.get("/props")
    def props() -> dict[str, Any]:
        model = llama()
        return {"default_generation_settings": {"n_ctx": model.n_ctx(), "params": {}}, "total_slots": 1,
                "model_path": model.model_path, "chat_template": model.metadata.get("tokenizer.chat_template", ""),
                "build_info": "llama-cpp-python (inspector embedded backend)"}

    @app.post("/apply-template")
    def apply_template(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        formatter = _formatter(llama())
        if formatter is None:
            raise HTTPException(501, "the model's chat format is one of llama-cpp-python's built-in ones")
        result = formatter(messages=body.get("messages") or [], tools=body.get("tools"))
        return {"prompt": result.prompt}

    @app.post("/tokenize")
    def tokenize(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        content = body.get("content") or ""
        return {"tokens": llama().tokenize(content.encode("utf-8"), add_bos=bool(body.get("add_special")),
                                           special=True)}


def main() -> None:
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(description="the inspector's embedded backend")
    add_args_from_model(parser, Settings)
    args = parser.parse_args()
    server_settings: Any = parse_model_from_args(ServerSettings, args)
    model_settings: Any = parse_model_from_args(ModelSettings, args)
    app = create_app(server_settings=server_settings, model_settings=[model_settings])
    add_llama_cpp_routes(app)
    uvicorn.run(app, host=server_settings.host, port=int(server_settings.port), log_level="warning")


if __name__ == "__main__":
    sys.path = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    main()
