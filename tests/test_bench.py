"""``make bench`` judges its own figures against issue 25's targets (``bench/gateway.py --check``).

Nothing is timed here: the figures are made up, the verdicts on them are what is pinned."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench"
sys.path.insert(0, str(BENCH))
spec = importlib.util.spec_from_file_location("bench_gateway", BENCH / "gateway.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_gateway"] = bench  # its dataclasses look their module up
spec.loader.exec_module(bench)

DIRECT = 2.0


def figures(*, p50_50k=5.0, p50_1k=3.0, first_p99=5.0, gap_p99=2.0, stalls=0, crossed=0, peer_50k=17.5,
            core_ratio=1.0, shapes_ok=True, peers=True, worse_form="openai"):
    """Every figure at its target's bound (``…`` the milliseconds ours adds), one form made worse."""
    def req(added_p50, added_first_p99=0.0):
        return {"p50": DIRECT + added_p50, "p99": DIRECT + 1, "first_p50": DIRECT, "first_p99": DIRECT + added_first_p99,
                "bad": 0.0}

    def sizes(added_50k, added_1k, first):
        return {"50KB": req(added_50k, first), "1KB": req(added_1k)}

    ours = {form: sizes(p50_50k if form == worse_form else 1.0, p50_1k if form == worse_form else 1.0,
                        first_p99 if form == worse_form else 0.5) for form in bench.FORMS}
    requests = {size: {"direct ollama": req(0), "direct openai": req(0),
                       **{f"ours {form}": ours[form][size] for form in ours}} for size in ("50KB", "1KB")}
    if peers:
        requests["50KB"]["litellm"] = req(40.0)
        requests["50KB"]["claude-code-router"] = req(peer_50k)
        requests["1KB"]["litellm"] = requests["1KB"]["claude-code-router"] = req(9.0)
    gaps = {"direct ollama": {"p99": 21.0}, "direct openai": {"p99": 21.0},
            "ours ollama": {"p99": 21.5}, "ours openai": {"p99": 21.0 + gap_p99}}
    parallel = {"ours ollama": {"128": {"stalls": float(stalls), "crossed": float(crossed), "incomplete": 0.0}},
                "ours openai": {"128": {"stalls": 0.0, "crossed": 0.0, "incomplete": 0.0}}}
    shapes = {"tool_call-tag": True, "harmony": shapes_ok}
    core = {"this tree": {"events_per_s": dict(zip(bench.FORMS, (400e3 * core_ratio, 230e3), strict=True)),
                          "shapes": shapes},
            bench.CORE_REF: {"events_per_s": dict(zip(bench.FORMS, (400e3, 215e3), strict=True)), "shapes": shapes}}
    return {"requests": requests, "gaps": gaps, "parallel": parallel, "peers": ["litellm", "claude-code-router"]
            if peers else [], "core": core}


def verdicts(**kw):
    return bench.targets(figures(**kw))


def test_every_target_is_met_at_its_bound():
    v = verdicts()
    assert [x.met for x in v] == [True] * 7
    assert [x.figure for x in v] == ["+5.00 ms", "+3.00 ms", "+5.00 ms", "+2.00 ms", "0 stalls, 0 crossed/cut",
                                     "3.5×", "1.00×, 2/2"]
    assert "claude-code-router" in v[5].what  # the fastest peer is the one compared with


@pytest.mark.parametrize(("which", "kw"), [
    (0, {"p50_50k": 5.01, "peer_50k": 20.0}), (1, {"p50_1k": 3.01}), (2, {"first_p99": 5.01}), (3, {"gap_p99": 2.01}),
    (4, {"stalls": 1}), (4, {"crossed": 1}), (5, {"peer_50k": 17.4}), (6, {"core_ratio": 0.99}),
    (6, {"shapes_ok": False}),
])
def test_one_miss_is_a_miss_and_only_that_one(which, kw):
    assert [x.met for x in verdicts(**kw)] == [i != which for i in range(7)]


@pytest.mark.parametrize("form", bench.FORMS)
def test_the_worst_form_decides(form):
    assert verdicts(p50_50k=6.0, worse_form=form)[0].met is False


def test_what_was_not_measured_is_neither_met_nor_missed():
    f = figures(peers=False)
    f["core"] = {"this tree": f["core"]["this tree"]}
    f["parallel"] = {}
    v = bench.targets(f)
    assert [x.met for x in v] == [True, True, True, True, None, None, None]
    assert "PEERS=1" in v[5].figure


def test_added_latency_is_against_the_direct_call_to_the_same_form():
    f = figures()
    f["requests"]["50KB"]["direct openai"]["p50"] = 3.0  # a slower direct call: less is added
    assert bench.added(f, "50KB", "ours openai") == pytest.approx(4.0)
    assert bench.added(f, "50KB", "ours ollama") == pytest.approx(1.0)
    assert bench.added(f, "50KB", "litellm") == pytest.approx(39.0)  # a peer speaks the OpenAI form


def test_the_core_is_judged_by_instruction_counts_where_both_were_counted():
    f = figures(core_ratio=0.9)  # slower by CPU time (a busy moment) …
    f["core"]["this tree"]["instructions_per_event"] = dict(zip(bench.FORMS, (19_500.0, 30_800.0), strict=True))
    f["core"][bench.CORE_REF]["instructions_per_event"] = dict(zip(bench.FORMS, (23_000.0, 39_300.0), strict=True))
    core = bench.targets(f)[6]
    assert core.met is True and "instructions" in core.what and core.figure.startswith("1.18×")
    f["core"]["this tree"]["instructions_per_event"]["openai"] = 39_400.0  # … one form more instructions: missed
    assert bench.targets(f)[6].met is False
