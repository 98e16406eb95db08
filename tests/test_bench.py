"""``make bench`` judges its own figures against issue 11's targets (``bench/gateway.py --check``)."""

import importlib.util
from pathlib import Path

import pytest

from inspector.protocol import FORM_NAMES

spec = importlib.util.spec_from_file_location("bench_gateway", Path(__file__).parent.parent / "bench" / "gateway.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def figures(gateway_ms: float, delta_ms: float, parallel_ms: float, rss_end: float):
    req = {"bare mitmdump": {"p50_ms": 4.0}, **{f"gateway {f}": {"p50_ms": 4.0} for f in FORM_NAMES},
           "gateway ollama": {"p50_ms": gateway_ms}}
    ttft = {"bare mitmdump": {"first_delta_ms": 100.0},
            **{f"gateway {f}": {"first_delta_ms": 100.0} for f in FORM_NAMES},
            "gateway openai": {"first_delta_ms": 100.0 + delta_ms}}
    par = {"single_p50_ms": 200.0, "parallel_p50_ms": parallel_ms}
    mem = {"rss_mb": {100: 80.0, 2000: rss_end}}
    return bench.targets(req, ttft, par, mem)


def test_every_target_is_met_at_its_bound():
    verdicts = figures(5.2, 2.0, 300.0, 85.0)
    assert [met for *_, met in verdicts] == [True, True, True, True]
    assert [figure for _, figure, _, _ in verdicts] == ["1.30×", "+2.00 ms", "1.50×", "+5.0 MB"]


@pytest.mark.parametrize(("which", "args"), [(0, (5.3, 0, 200, 80)), (1, (4, 2.1, 200, 80)),
                                             (2, (4, 0, 301, 80)), (3, (4, 0, 200, 85.1))])
def test_the_worst_form_decides_and_one_miss_is_a_miss(which, args):
    verdicts = figures(*args)
    assert [met for *_, met in verdicts] == [i != which for i in range(4)]
