import pytest

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import Gateway


class Pair:
    """A scripted backend of one form with the gateway in front of it."""

    def __init__(self, backend: ScriptedBackend, gateway: Gateway) -> None:
        self.backend = backend
        self.gateway = gateway
        self.url = gateway.url

    def script(self, *replies: Reply) -> None:
        self.backend.script = list(replies)
        self.backend.received.clear()


@pytest.fixture(scope="module", params=["ollama", "openai", "anthropic"])
def pair(request):
    form = request.param
    with ScriptedBackend(form, [Reply(text="hi")]) as backend:
        with Gateway(backend.url, backend=form, model="qwen3", ping_interval=0.3) as gw:
            yield Pair(backend, gw)
