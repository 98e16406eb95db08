"""A backend form as one object (``_form.BackendForm``) and the registry (``_forms``): each form prepares
the whole backend call — URL, auth, headers, body — and says what it can do; nobody branches on a name
(``tests/test_form_names.py`` holds everyone to that)."""

import orjson
import pytest

from inspector.protocol import (
    FORM_NAMES,
    FORMS,
    BackendAccess,
    BackendForm,
    ClientCall,
    InvalidRequest,
    TranslateContext,
    get_form,
)

ASK = {"model": "claude-sonnet-x", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
CLIENT_HEADERS = [("user-agent", "claude-cli/2.1.328"), ("x-api-key", "sk-ant-the-users-key"),
                  ("authorization", "Bearer users-bearer"), ("anthropic-version", "2023-06-01"),
                  ("content-length", "123"), ("host", "127.0.0.1:4000")]


def call(body=ASK, *, path="/v1/messages?beta=true", headers=CLIENT_HEADERS, kind="messages") -> ClientCall:
    return ClientCall("POST", path, headers, body if isinstance(body, bytes) else orjson.dumps(body), kind)


def credentials(name: str) -> bool:
    return name.lower() in ("x-api-key", "authorization")


def prepared(form: BackendForm, *, url="http://127.0.0.1:8080", key="", body=ASK, path="/v1/messages?beta=true"):
    request = form.read(call(body, path=path))
    ctx = TranslateContext(model=request.model, backend_model="qwen3", names=form.tool_names())
    return form.prepare(request, ctx, BackendAccess(url, key, is_credential=credentials))


def test_the_registry_holds_each_form_once_under_its_own_name():
    assert tuple(FORMS) == FORM_NAMES and len(set(FORM_NAMES)) == len(FORM_NAMES)
    assert all(isinstance(form, BackendForm) and form.name == name for name, form in FORMS.items())
    with pytest.raises(ValueError, match=f"unknown backend form 'vllm' \\(one of: {', '.join(FORM_NAMES)}\\)"):
        get_form("vllm")


@pytest.mark.parametrize("name", FORM_NAMES)
@pytest.mark.parametrize("base", ["", "/v1", "/proxy/llm"])
def test_the_url_is_the_base_and_the_forms_own_path(name, base):
    form = get_form(name)
    sent = prepared(form, url="http://127.0.0.1:8080" + base)
    if form.whole_api:  # the client's own path, under the base unless it already names it
        assert sent.url == "http://127.0.0.1:8080" + base + "/v1/messages?beta=true" or \
            sent.url == "http://127.0.0.1:8080/v1/messages?beta=true"
    else:
        assert sent.url == "http://127.0.0.1:8080" + base + form.chat_path(base, model="qwen3", stream=True)
        assert sent.method == "POST" and "?" not in sent.url


@pytest.mark.parametrize("name", FORM_NAMES)
def test_the_body_names_the_backend_model_and_is_what_the_call_sends(name):
    sent = prepared(get_form(name))
    assert sent.json is not None and sent.json["model"] == "qwen3"
    assert orjson.loads(sent.body) == sent.json


@pytest.mark.parametrize("name", FORM_NAMES)
def test_the_gateways_key_goes_as_the_form_sends_it_and_the_users_only_where_meant(name):
    form = get_form(name)
    without = dict(prepared(form).headers)
    assert "x-api-key" not in without and "authorization" not in without, "the user's credentials stay home"
    assert without["user-agent"] == "claude-cli/2.1.328"
    assert "content-length" not in without and "host" not in without, "framing is the transport's own"
    keyed = prepared(form, key="backend-key-123").headers
    assert form.auth_headers("backend-key-123") and all(h in keyed for h in form.auth_headers("backend-key-123"))
    assert form.auth_headers("") == []


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_header_http_cannot_carry_is_refused_not_sent(name):
    form = get_form(name)
    request = form.read(call(headers=[("user-agent", "evil\r\nx-injected: 1")]))
    with pytest.raises(InvalidRequest, match="user-agent"):
        form.prepare(request, TranslateContext(model="m", names=form.tool_names()), BackendAccess("http://h:1"))


@pytest.mark.parametrize("name", FORM_NAMES)
@pytest.mark.parametrize("agent", ["\t", " claude-cli/2.1.328\t"], ids=["blank", "padded"])
def test_whitespace_around_a_header_value_is_not_part_of_it(name, agent):
    """HTTP cannot carry a value that starts or ends with whitespace (a parser drops it): it goes on without."""
    form = get_form(name)
    request = form.read(call(headers=[("user-agent", agent)]))
    sent = form.prepare(request, TranslateContext(model="m", names=form.tool_names()), BackendAccess("http://h:1"))
    assert dict(sent.headers)["user-agent"] == agent.strip()


@pytest.mark.parametrize("name", FORM_NAMES)
def test_what_a_form_cannot_take_is_refused_and_side_traffic_goes_on_only_to_the_whole_api(name):
    form = get_form(name)
    with pytest.raises(InvalidRequest):
        form.read(call({"model": "m"}))  # no messages
    if form.whole_api:
        assert form.read(call(b"", path="/v1/models", kind="models")).data is None
    else:
        with pytest.raises(InvalidRequest, match="is not a Messages call"):
            form.read(call(ASK, path="/v1/files", kind="other"))


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_stream_has_its_decoder_and_processor(name):
    form = get_form(name)
    assert form.is_stream(form.stream_type) and form.accept(True) == form.stream_type
    decoder = form.event_decoder()
    assert decoder.decode(b"") == [] and decoder.flush() == []
    processor = form.stream_processor(TranslateContext(model="m", names=form.tool_names()))
    assert not processor.answering and not processor.finished


@pytest.mark.parametrize("name", FORM_NAMES)
def test_only_a_form_that_sizes_the_context_per_request_advises_on_it(name):
    form = get_form(name)
    advice = form.context_advice(num_ctx=0)
    assert (advice is not None) == form.sizes_context
    if advice is not None:
        assert "NUM_CTX=65536" in advice and "truncates" in advice
    assert form.context_advice(num_ctx=65536) is None


def test_the_usual_place_of_run_s_default_server_is_its_forms_own():
    from inspector.cli import DEFAULT_OLLAMA
    from inspector.protocol import OLLAMA
    assert OLLAMA.default_url == DEFAULT_OLLAMA, "inspector run's default backend URL"


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_missing_model_fix_and_an_unreachable_backend_say_what_to_do(name):
    form = get_form(name)
    assert "qwen3:8b" in form.missing_model_fix("qwen3:8b") or "model" in form.missing_model_fix("qwen3:8b")
    err = form.unreachable(backend="http://127.0.0.1:1", reason="connection refused")
    assert err.status in (502, 503) and "http://127.0.0.1:1" in err.message and form.label in err.message


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_whole_answer_that_is_an_error_says_so_in_anthropics_words(name):
    form = get_form(name)
    answer = form.whole_answer(500, [("content-type", "text/plain")], b"CUDA out of memory",
                               TranslateContext(model="m"), stream=False)
    assert answer.error is not None and answer.error.status == 500 and "CUDA out of memory" in answer.error.message


@pytest.mark.parametrize("name", FORM_NAMES)
def test_a_whole_answer_that_says_error_null_is_an_answer(name):
    from inspector.testing.backends import RENDER, Reply
    form = get_form(name)
    body = orjson.loads(RENDER[name](Reply(text="Hi."), "m", False)[0])
    answer = form.whole_answer(200, [("content-type", "application/json")], orjson.dumps({**body, "error": None}),
                               TranslateContext(model="m", names=form.tool_names()), stream=False)
    assert answer.error is None and answer.message is not None
