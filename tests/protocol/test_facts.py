"""What a backend says, as data: usage counted disjointly, probes driven as generators."""

from inspector.protocol import Answer, BackendUsage, ModelFacts, Probe, run_steps
from inspector.protocol._facts import no_count


def test_anthropic_input_excludes_what_the_cache_served():
    usage = BackendUsage.counts("openai", prompt=12_000, cached=11_800, output=57)
    assert usage.input_tokens == 200, "Anthropic counts input, cache reads and cache writes disjointly"
    assert BackendUsage.counts("x", prompt=100, cached=30, cache_write=50).input_tokens == 20
    assert BackendUsage.counts("x", prompt=100).input_tokens == 100 and BackendUsage("x").input_tokens is None


def test_only_what_was_said_is_kept():
    usage = BackendUsage.counts("ollama", prompt="12", cached=-1, output=True)
    assert (usage.prompt_tokens, usage.cached_tokens, usage.output_tokens) == (None, None, None)
    timed = BackendUsage("ollama").timings(load_ns=2_000_000, prompt_n=10, prompt_ns="x", decode_n=5,
                                           decode_ns=1_000_000_000)
    assert (timed.load_ms, timed.prompt_ms, timed.decode_ms) == (2.0, None, 1000.0)
    assert timed.has_timings and not BackendUsage("x").has_timings


def test_parts_of_one_answer_merge():
    usage = BackendUsage.counts("openai", prompt=100, output=3)
    usage.merge(BackendUsage("llama.cpp").timings(prompt_n=40, prompt_ns=20.0, scale=1.0))
    assert (usage.prompt_tokens, usage.prompt_eval_tokens, usage.prompt_ms, usage.source) == (100, 40, 20.0, "llama.cpp")


def test_steps_are_driven_with_one_answer_per_probe():
    def steps():
        a, b = yield [Probe("a", "GET", "/a"), Probe("b", "GET", "/b")]
        (c,) = yield [Probe("c", "POST", "/c", {"x": a.data})]
        return ModelFacts("m", window=c.data, window_source=f"{b.status}")

    asked = []

    def ask(probes):
        asked.append([p.path for p in probes])
        return [Answer(200, len(asked) * 10) for _ in probes]

    facts = run_steps(steps(), ask)
    assert asked == [["/a", "/b"], ["/c"]] and facts.window == 20 and facts.window_source == "200"
    assert run_steps(no_count(), ask) is None


def test_an_answer_is_ok_only_with_a_body():
    assert Answer(200, {}).ok and not Answer(200).ok and not Answer(404, {"error": "x"}).ok and not Answer(0).ok
