"""`make bench-check`'s rule (bench/bench_service.py check()): a ratio worse than its recorded
baseline by more than its tolerance, a figure over its limit, or a failed call is a regression;
anything within the tolerance passes. Checked against the recorded bench/baselines.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from bench_service import check  # noqa: E402

BASELINES = json.loads((BENCH / "baselines.json").read_text())


def recorded() -> dict[str, float]:
    """A run that measured exactly the baselines (p99 at half its limit)."""
    return {name: b.get("value", b.get("limit", 0) / 2) for name, b in BASELINES["ratios"].items()}


def test_a_run_at_the_baselines_passes():
    assert check(recorded(), BASELINES) == []


def test_higher_is_better_ratios_fail_below_their_tolerance():
    tol = BASELINES["tolerance"]
    run = recorded()
    run["throughput"] *= 1 - tol / 2
    assert check(run, BASELINES) == []
    run["throughput"] = BASELINES["ratios"]["throughput"]["value"] * (1 - tol) * 0.99
    assert [p.split()[0] for p in check(run, BASELINES)] == ["throughput"]


def test_lower_is_better_ratios_and_limits_fail_above():
    run = recorded()
    run["memory_peak_over_budget"] = 1.01  # within its 30 % tolerance of 0.82, but over the budget
    assert check(run, BASELINES) == ["memory_peak_over_budget 1.010 over its limit 1.0"]
    run = recorded()
    run["p99_ms"] = 1500
    assert check(run, BASELINES) == ["p99_ms 1500.000 over its limit 1000"]


def test_any_failed_call_under_load_fails_the_check():
    assert check({**recorded(), "errors": 1}, BASELINES) == ["1 calls failed under load"]
