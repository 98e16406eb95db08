"""inspector eval against scripted candidates (inspector/testing/backends.py): each kind of answer a
candidate gives — the recorded call, another tool, broken JSON, a call printed as text, an error, no
server at all — scored as what it is, through the gateway's own translation."""

import asyncio

import pytest

from inspector.eval import Candidate, EvalRun, load_turns, parse_turns, run_eval, sessions_of
from inspector.recording import list_sessions
from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.gateway import free_port
from inspector.testing.samples import samples_dir

WORKDIR = "/tmp/inspector-sample-98d79ruk"  # where the sample Write round trip was recorded


def evaluate(url: str, form: str, turns: str = "2", **kw):
    run = EvalRun(load_turns(sessions_of(samples_dir()), turns=parse_turns(turns)), [Candidate("cand", form, url)])
    asyncio.run(run_eval(run, **kw))
    return run


def write_turn(form: str, reply: Reply, **backend) -> tuple:
    with ScriptedBackend(form, [reply], **backend) as b:
        run = evaluate(b.url, form)
    (s,) = run.scores
    return s, b


def test_the_recorded_call_with_a_relative_path_is_equivalent_and_well_formed():
    s, b = write_turn("openai", Reply(text="Writing it.", calls=[Call("Write", {"file_path": "hello.txt",
                                                                                 "content": "hello from a local model"})],
                                      cached_tokens=30), server="llama.cpp")
    assert s.answered and s.status == 200 and s.stop_reason == "tool_use" and s.stop_matches
    t = s.tool
    assert (t.called, t.well_formed, t.same_tool, t.equivalent_arguments, t.repairs, t.reasked) == \
        (True, True, True, True, (), None)
    # llama.cpp's own timings (the scripted server's prompt_ms/predicted_ms) and its prompt cache.
    assert (s.timings.source, s.timings.ttft_ms, s.timings.total_ms) == ("llama.cpp", 250.0, 600.0)
    assert s.cache.read_tokens == 30 and s.cache.input_tokens == 42
    # What the candidate was sent: the recorded request, translated as the gateway translates it.
    (chat,) = b.chat_requests
    assert chat.body["model"] == "cand" and chat.body["stream"] is True
    # Deferred tools stay hidden until a tool_reference loads them (the gateway's default, deferred_tools=hide).
    assert [t["function"]["name"] for t in chat.body["tools"]] == ["Write"]
    assert "Write 'hello from a local model' into hello.txt" in str(chat.body["messages"])


def test_another_tool_is_not_the_same_tool():
    s, _ = write_turn("openai", Reply(calls=[Call("Bash", {"command": "echo hi > hello.txt"})]))
    assert s.answered and not s.tool.same_tool and not s.tool.equivalent_arguments
    assert s.tool.well_formed is False and s.tool.problems == ("tool:unknown",), "Bash was not offered"


def test_broken_argument_json_is_repaired_and_says_which_rule():
    broken = f'{{"file_path": "{WORKDIR}/hello.txt", "content": "hello from a local model\\n",}}'  # a trailing comma
    s, _ = write_turn("openai", Reply(calls=[Call("Write", broken)]))
    assert s.tool.repairs == ("args:invalid-json",) and s.tool.well_formed is False
    assert s.tool.same_tool and s.tool.equivalent_arguments, "the repair dropped the comma and changed no value"


def test_a_call_the_model_never_closed_is_no_call():
    cut = f'{{"file_path": "{WORKDIR}/hello.txt", "content": "hello from a local model\\n"'  # no closing brace
    s, _ = write_turn("openai", Reply(calls=[Call("Write", cut)]))
    assert not s.tool.called and not s.tool.equivalent_arguments, "an unclosed call is never completed"
    assert "tool-call:cut" in s.tool.problems


def test_a_call_printed_as_text_is_repaired_from_text():
    printed = ('<tool_call>{"name": "Write", "arguments": {"file_path": "hello.txt", '
               '"content": "hello from a local model\\n"}}</tool_call>')
    s, _ = write_turn("ollama", Reply(text=printed))
    assert s.tool.repairs == ("text-call:tool_call-tag",) and s.tool.equivalent_arguments
    assert s.timings.source == "ollama" and s.timings.ttft_ms == 262.0, "Ollama's load + prompt_eval durations"


def test_an_error_answer_is_scored_as_that_error():
    s, _ = write_turn("ollama", Reply(status=500, error="CUDA error: out of memory"))
    assert not s.answered and s.status == 500 and s.error["type"] == "api_error"
    assert "out of memory" in s.error["message"] and s.tool is None


def test_a_candidate_that_is_down_gets_its_error_on_every_turn_and_no_crash():
    run = evaluate(f"http://127.0.0.1:{free_port()}", "openai", turns="1-3")
    assert len(run.scores) == 3 and run.complete
    for s in run.scores:
        assert not s.answered and s.status == 502 and "cannot reach" in s.error["message"]
    (summary,) = run.summaries()
    assert summary.errors == {"api_error": 3} and summary.answered == 0


def test_the_candidates_exchanges_are_an_ordinary_recording(tmp_path):
    with ScriptedBackend("ollama", [Reply(calls=[Call("Write", {"file_path": "hello.txt", "content": "hi"})]),
                                    Reply(text="I wrote hello.txt.")]) as b:
        run = evaluate(b.url, "ollama", turns="2-3", record=tmp_path)
    assert [s.recorded_as is not None for s in run.ordered()] == [True, True]
    (session,) = list_sessions(tmp_path)
    assert "_inspector-eval-cand_4997fd7d-" in session.name, session.name
    first, second = session.exchanges()
    assert first.complete and first.meta["eval_of"].endswith("4997fd7d#1")
    assert first.meta["model"] == {"requested": "claude-opus-5-5", "backend": "cand"}
    assert first.meta["tool_calls"][0]["name"] == "Write" and first.request_json("backend")["model"] == "cand"
    assert second.meta["prefix"]["kept"] > 0.5, "the second replayed turn repeats the first one's prefix"
    assert run.ordered()[1].cache.prefix_kept == second.meta["prefix"]["kept"]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_every_turn_is_scored_once_whatever_the_concurrency(concurrency):
    with ScriptedBackend("openai", [Reply(text="Hi.", delay=0.05)]) as b:
        run = evaluate(b.url, "openai", turns="1-3", concurrency=concurrency)
    assert [s.turn for s in run.ordered()] == [1, 2, 3] and len(b.chat_requests) == 3


def test_an_anthropic_native_candidate_gets_the_request_as_recorded_with_its_model_and_key():
    write = Call("Write", {"file_path": "hello.txt", "content": "hello from a local model"})
    with ScriptedBackend("anthropic", [Reply(text="Writing.", calls=[write])]) as b:
        run = EvalRun(load_turns(sessions_of(samples_dir()), turns=parse_turns("2")),
                      [Candidate("native", "anthropic", b.url, api_key="sk-local-candidate")])
        asyncio.run(run_eval(run))
    (s,) = run.scores
    assert s.answered and s.tool.same_tool and s.tool.equivalent_arguments and s.tool.well_formed
    (chat,) = b.chat_requests
    assert chat.path == "/v1/messages?beta=true" and chat.body["model"] == "native"
    assert chat.body["messages"] == run.turns.turns[0].request().json["messages"], "passed through as recorded"
    assert chat.headers["x-api-key"] == "sk-local-candidate" and chat.headers["anthropic-version"] == "2023-06-01"


def test_a_request_that_cannot_fit_the_candidates_window_is_refused_without_asking_it(tmp_path):
    with ScriptedBackend("openai", [Reply(text="never")], server="llama.cpp") as b:
        b.n_ctx = 300  # llama.cpp /props: a 300-token window; the recorded request is thousands of tokens
        run = evaluate(b.url, "openai", record=tmp_path)
    (s,) = run.scores
    assert not s.answered and s.status == 400 and s.error["message"].startswith("prompt is too long: ")
    assert "for model 'cand'" in s.error["message"]
    assert b.chat_requests == [], "as the gateway does: the backend is never called"
    (exchange,) = list_sessions(tmp_path)[0].exchanges()  # recorded as the gateway records a refusal
    meta = exchange.meta
    assert meta["local"] and meta["status"]["client"] == 400 and meta["context_window"]["tokens"] == 300
    assert [n["rule"] for n in meta["notes"] if n.get("rule") == "context:too-long"] == ["context:too-long"]
    assert meta["token_counts"]["exact"], "counted by the candidate's own tokenizer before refusing"


def test_a_silent_candidate_fails_its_turn_after_the_timeout():
    with ScriptedBackend("openai", [Reply(text="late", delay=5.0)]) as b:
        run = evaluate(b.url, "openai", idle_timeout=0.5)
    (s,) = run.scores
    assert not s.answered and s.error["type"] == "timeout_error", s.error
