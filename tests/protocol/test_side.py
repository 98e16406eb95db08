import orjson
import pytest

from inspector.protocol import InvalidRequest, count_tokens, models_page


def test_count_tokens_estimate_grows_with_the_prompt(claude_code_request):
    small = count_tokens(orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
    big = count_tokens(claude_code_request)
    assert small["input_tokens"] < 50 < 10_000 < big["input_tokens"] < 20_000


def test_count_tokens_rejects_garbage():
    with pytest.raises(InvalidRequest):
        count_tokens(b"nope")


def test_models_page_shape():
    """Only ids Claude Code's model-family logic can read (claude-{family}-{major}-{minor}) are listed."""
    page = models_page(["claude-sonnet-4-5", "claude-sonnet-4-5", "", "qwen3", "claude-haiku-4-5-20251001",
                        "claude-3-5-sonnet-20241022"])
    assert [m["id"] for m in page["data"]] == ["claude-sonnet-4-5", "claude-haiku-4-5-20251001"]
    assert page["first_id"] == "claude-sonnet-4-5" and page["last_id"] == "claude-haiku-4-5-20251001"
    assert page["has_more"] is False and models_page(["qwen3:8b"])["data"] == []
