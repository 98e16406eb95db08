"""Test support shipped with the package (as mitmproxy ships ``mitmproxy.test``): scripted backends
that speak the published wire formats, the real gateway as a subprocess, the official SDK as the
judge of our SSE, the real Claude Code binary, and the sample sessions.

``backends``  ScriptedBackend, Reply, Call — loopback Ollama / OpenAI / Anthropic servers
``gateway``   Gateway — ``mitmdump -s addons/translate.py`` for a test
``sdk``       accumulate, parse_message — the ``anthropic`` SDK judging bytes we produced
``claude``    claude_binary, run_claude — the pinned Claude Code CLI
``llama_server``  LlamaServer — llama.cpp's own llama-server (``make llama-server``) with the SmolLM2 GGUF
``samples``   samples_dir — a private copy of the committed sample sessions

Needs the ``dev`` extra (anthropic, httpx) where noted; nothing here is imported by the gateway.
"""
