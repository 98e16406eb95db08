import pytest

from inspector.protocol import ModelRouter, parse_model_map


@pytest.mark.parametrize("requested, expected", [
    ("claude-haiku-4-5-20251001", "qwen2.5:0.5b"),
    ("claude-sonnet-4-5", "qwen3:8b"),
    ("claude-opus-5-5", "qwen3:32b"),
    ("something-else", "default-model"),
])
def test_first_match_wins_then_default(requested, expected):
    router = ModelRouter(model="default-model",
                         model_map="haiku=qwen2.5:0.5b, claude-sonnet-*=qwen3:8b; opus=qwen3:32b")
    assert router.route(requested) == expected


def test_without_model_the_requested_name_goes_through():
    assert ModelRouter().route("qwen3:8b") == "qwen3:8b"


@pytest.mark.parametrize("bad", ["haiku", "=x", "haiku="])
def test_bad_map_names_the_entry(bad):
    with pytest.raises(ValueError, match="PATTERN=MODEL"):
        parse_model_map(bad)
