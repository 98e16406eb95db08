import pytest

from inspector.protocol import TIERS, ModelRouter, parse_model_map, tier_of, unrouted_fix


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


@pytest.mark.parametrize("requested", [
    "claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022", "claude-haiku-5-5[1m]",
    "CLAUDE-HAIKU-4-5", "claude-haiku-4-5[1M]",
])
def test_every_spelling_of_a_tier_maps_dated_or_not_with_a_context_tag_or_not(requested):
    router = ModelRouter(model_map="haiku=small, sonnet=big")
    assert router.route(requested) == "small"
    assert router.mapped(requested) == "small"


def test_a_context_tag_is_not_part_of_a_name_in_the_map_or_the_request():
    router = ModelRouter(model_map="claude-sonnet-4-5[1m]=qwen3, claude-opus-*[1m]=big")
    assert router.route("claude-sonnet-4-5") == router.route("claude-sonnet-4-5[1m]") == "qwen3"
    assert router.route("claude-opus-5-5[1m]") == "big", "[1m] is a tag, not a glob character class"
    assert ModelRouter().route("claude-fable-5[1m]") == "claude-fable-5", "sent without the tag"
    assert ModelRouter().mapped("claude-fable-5") is None and ModelRouter(model="m").mapped("x") == "m"


@pytest.mark.parametrize("model, tier, var", [
    ("claude-haiku-5-5", "haiku", "ANTHROPIC_DEFAULT_HAIKU_MODEL"),
    ("claude-sonnet-4-5-20250929", "sonnet", "ANTHROPIC_DEFAULT_SONNET_MODEL"),
    ("claude-opus-5-5", "opus", "ANTHROPIC_DEFAULT_OPUS_MODEL"),
    ("claude-fable-5-2", "fable", "ANTHROPIC_DEFAULT_FABLE_MODEL"),
    ("claude-mythos-preview", "claude-mythos-preview", "ANTHROPIC_MODEL"),
])
def test_the_fix_for_an_unrouted_claude_id_names_the_option_and_the_variables(model, tier, var):
    fix = unrouted_fix(model)
    assert f"--set model_map={tier}=MODEL" in fix and f"MODEL_MAP={tier}=MODEL" in fix
    assert f"{var}=MODEL" in fix and "CLAUDE_CODE_SUBAGENT_MODEL=MODEL" in fix
    assert tier_of(model) == (tier if tier in TIERS else None)
