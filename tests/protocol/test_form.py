"""A backend form as one object (``_form.BackendForm``) and the registry (``_forms``): what each form
says about itself is what the gateway, doctor and the CLI act on — nobody branches on a name."""

import pytest

from inspector.protocol import FORM_NAMES, FORMS, BackendForm, get_form


def test_the_registry_holds_each_form_once_under_its_own_name():
    assert FORM_NAMES == ("ollama", "openai", "anthropic")
    assert all(isinstance(form, BackendForm) and form.name == name for name, form in FORMS.items())
    with pytest.raises(ValueError, match="unknown backend form 'vllm' \\(one of: ollama, openai, anthropic\\)"):
        get_form("vllm")


@pytest.mark.parametrize(("name", "base", "path"), [
    ("ollama", "", "/api/chat"), ("openai", "", "/v1/chat/completions"), ("openai", "/v1", "/chat/completions"),
    ("anthropic", "", "/v1/messages?beta=true")])
def test_each_form_knows_its_chat_endpoint(name, base, path):
    assert get_form(name).chat_path(base, "/v1/messages?beta=true") == path


def test_only_a_form_that_sizes_the_context_per_request_advises_on_it():
    ollama, openai, anthropic = (get_form(n) for n in FORM_NAMES)
    advice = ollama.context_advice(num_ctx=0)
    assert advice is not None and "NUM_CTX=65536" in advice and "truncates" in advice
    assert ollama.context_advice(num_ctx=65536) is None
    assert openai.context_advice(num_ctx=0) is None and anthropic.context_advice(num_ctx=0) is None


def test_the_usual_place_of_a_server_is_the_forms_own():
    assert get_form("ollama").default_url == "http://127.0.0.1:11434"
    assert get_form("openai").default_url is None and get_form("anthropic").default_url is None
    from inspector.cli import DEFAULT_OLLAMA
    assert get_form("ollama").default_url == DEFAULT_OLLAMA, "inspector run's default backend URL"


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_missing_model_fix_and_an_unreachable_backend_say_what_to_do(name):
    form = get_form(name)
    fix = form.missing_model_fix("qwen3:8b")
    assert ("ollama pull qwen3:8b" in fix) == (name == "ollama")
    err = form.unreachable(backend="http://127.0.0.1:1", reason="connection refused")
    assert err.status in (502, 503) and "http://127.0.0.1:1" in err.message and form.label in err.message
