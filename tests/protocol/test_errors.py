import pytest

from inspector.protocol import OLLAMA, OPENAI, BackendForm, error_message_of


@pytest.mark.parametrize("body, message", [
    (b'{"error": "model \'x\' not found"}', "model 'x' not found"),
    (b'{"error": {"message": "bad", "type": "invalid_request_error"}}', "bad"),
    (b'{"object": "error", "message": "vllm says no", "code": 400}', "vllm says no"),
    (b'{"detail": "Not Found"}', "Not Found"),
    (b"<html>oops</html>", "<html>oops</html>"),
])
def test_error_message_of_each_api(body, message):
    assert error_message_of(body) == message


@pytest.mark.parametrize("form, status, body, http, kind, advice", [
    (OLLAMA, 404, '{"error": "model \'qwen3\' not found"}', 400, "invalid_request_error", "ollama pull qwen3"),
    (OPENAI, 404, '{"error": {"message": "no such model"}}', 400, "invalid_request_error", "GET /v1/models"),
    (OLLAMA, 400, '{"error": "\\"qwen3\\" does not support thinking"}', 400, "invalid_request_error", "think=off"),
    (OLLAMA, 400, '{"error": "llama2 does not support tools"}', 400, "invalid_request_error", "tools-capable"),
    (OPENAI, 400, '{"error": {"message": "maximum context length is 8192"}}', 400, "invalid_request_error",
     "prompt is too long"),
    (OPENAI, 400, '{"object": "error", "message": "This model\'s maximum context length is 32768 tokens. '
                    'However, you requested 160000 tokens (32000 in the messages, 128000 in the completion)."}',
     400, "invalid_request_error", "max_tokens_limit"),
    (OLLAMA, 503, '{"error": "server busy, queue full"}', 529, "overloaded_error", "retry"),
    (OPENAI, 401, '{"error": {"message": "invalid api key"}}', 401, "authentication_error", "backend_api_key"),
    (OLLAMA, 500, '{"error": "boom"}', 500, "api_error", "boom"),
], ids=lambda v: v.name if isinstance(v, BackendForm) else None)
def test_backend_errors_say_what_to_do(form, status, body, http, kind, advice):
    err = form.error(status=status, body=body, model="qwen3", backend="http://b")
    assert (err.status, err.type) == (http, kind)
    assert advice in err.message
    # Only a busy or rate-limiting backend is worth Claude Code's ten retries.
    assert err.retry == (http in (429, 529))
    assert ("x-should-retry", "true" if err.retry else "false") in err.headers()


def test_unreachable_and_garbage():
    err = OLLAMA.unreachable(backend="http://127.0.0.1:11434", reason="ConnectError")
    assert err.status == 502 and "ollama serve" in err.message and "127.0.0.1:11434" in err.message
    assert not err.retry, "a backend that is not running does not appear by retrying"
    err = OPENAI.garbage(backend="http://b", sample=b"<!doctype html>" + b"x" * 500)
    assert "backend=openai" in err.message and len(err.message) < 400
