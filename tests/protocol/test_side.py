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
    page = models_page(["qwen3", "qwen3", "", "small"])
    assert [m["id"] for m in page["data"]] == ["qwen3", "small"]
    assert page["first_id"] == "qwen3" and page["last_id"] == "small" and page["has_more"] is False
