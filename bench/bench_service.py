"""The service suites of seed 003 (performance guide) against a real evaluator process on
loopback: throughput, latency p50/p95/p99 at 80 % of saturation, memory peak under a budget
while caches churn, cache hit rate, concurrency scaling and streaming (dataset upload).

Every suite prints its figures and one ratio against a baseline measured in the same run
(absolute times on a shared machine are not comparable from run to run; ratios mostly are).
`--check bench/baselines.json` (`make bench-check`) fails when a ratio regressed beyond the
tolerance the file states; `--record` rewrites the file from this run.

    .venv/bin/python bench/bench_service.py [--quick] [--check FILE | --record FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from service_load import (MEMORY_BUDGET_MB, Load, ServerProcess, clients_loop, closed_loop, evolving_requests,
                          memory_churn, noisy_xor, open_loop)

from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset, upload_requests
from neatai.v1 import evaluator_pb2

MiB = 1 << 20
POP = 50  # creatures per Evaluate call


def noop_calls(server: ServerProcess, clients: int, seconds: float) -> Load:
    """GetStats, the cheapest call the evaluator serves: the transport's own rate."""
    def once(load: Load, lock) -> None:
        t0 = time.perf_counter()
        server.evaluator.GetStats(evaluator_pb2.GetStatsRequest(), timeout=30)
        with lock:
            load.latencies.append(time.perf_counter() - t0)

    return clients_loop(clients, seconds, once)


def paired(subject, baseline, rounds: int) -> tuple[float, list[float], list[float]]:
    """Median of subject/baseline over `rounds` alternating slices: both see the same neighbours
    on a shared machine, so the ratio keeps still while the absolute rates swing. Each callable
    returns a rate (higher = better). Returns the ratio and both lists of rates."""
    a, b = [], []
    for _ in range(rounds):
        a.append(subject())
        b.append(baseline())
    return float(np.median([x / y for x, y in zip(a, b)])), a, b


def cache(server: ServerProcess, name: str) -> evaluator_pb2.CacheStats:
    stats = server.evaluator.GetStats(evaluator_pb2.GetStatsRequest(), timeout=30)
    return next(c for c in stats.caches if c.name == name)


def suites(quick: bool) -> dict[str, float]:
    seconds = 2.0 if quick else 10.0
    sustained = 5.0 if quick else 60.0
    ratios: dict[str, float] = {}
    server = ServerProcess("--threads", "2", "--network-cache-size", str(2 * POP))  # NEAT-AI: 2 x population
    try:
        dataset_id = upload_dataset(server.datasets, noisy_xor(), timeout=30).dataset_id
        requests = evolving_requests(dataset_id, generations=100, size=POP, elites=0.3)

        print(f"\n1. Throughput ({seconds:.0f} s, 4 clients, Evaluate of {POP} creatures on 1,000 records, 70 % new each call)")
        rounds = 4 if quick else 10
        ratios["throughput"], evaluate, noop = paired(
            lambda: closed_loop(server, requests, clients=4, seconds=seconds / rounds).throughput,
            lambda: noop_calls(server, clients=4, seconds=seconds / rounds).throughput, rounds)
        saturation = float(np.median(evaluate))
        print(f"   Evaluate {saturation:7.0f} calls/s ({saturation * POP:,.0f} creatures/s) = saturation; "
              f"GetStats {np.median(noop):7.0f} calls/s (alternating slices); ratio {ratios['throughput']:.3f}")

        print(f"\n2. Latency at 80 % of saturation ({0.8 * saturation:.0f} calls/s, open loop, {sustained:.0f} s)")
        alone = closed_loop(server, requests, clients=1, seconds=seconds / 2)
        load = open_loop(server, requests, rate=0.8 * saturation, seconds=sustained)
        ratios["latency_p99"] = load.ms(99) / alone.ms(50)
        ratios["p99_ms"] = load.ms(99)  # absolute, checked only against seed 003's 1 s target
        print(f"   {load.calls} calls, errors {len(load.errors)} {dict(Counter(load.errors))}: p50 {load.ms(50):.1f} ms  p95 {load.ms(95):.1f} ms  "
              f"p99 {load.ms(99):.1f} ms (target < 1000 ms: {'met' if load.ms(99) < 1000 else 'MISSED'}); "
              f"one client alone p50 {alone.ms(50):.2f} ms; p99 / alone p50 {ratios['latency_p99']:.1f}")
        if load.errors:
            ratios["errors"] = len(load.errors)

        print(f"\n3. Cache hit rate (an evolving population: 30 % elites per call, cache {2 * POP} networks)")
        before_n, before_t = cache(server, "compiled-networks"), cache(server, "topology-templates")
        closed_loop(server, requests, clients=1, seconds=seconds / 2)
        n, t = cache(server, "compiled-networks"), cache(server, "topology-templates")
        hit = (n.hits - before_n.hits) / max(1, n.hits - before_n.hits + n.misses - before_n.misses)
        template_hit = (t.hits - before_t.hits) / max(1, t.hits - before_t.hits + t.misses - before_t.misses)
        ratios["cache_hit_speedup"], cached, fresh = paired(
            lambda: closed_loop(server, requests[:1], clients=1, seconds=seconds / rounds).throughput,
            lambda: closed_loop(server, requests, clients=1, seconds=seconds / rounds).throughput, rounds)
        print(f"   compiled networks hit {hit:.1%}, topology templates hit {template_hit:.1%} "
              f"(target > 50 %: {'met' if max(hit, template_hit) > 0.5 else 'MISSED'} by the templates); "
              f"all-cached calls {np.median(cached):.0f}/s vs 70 %-new {np.median(fresh):.0f}/s: {ratios['cache_hit_speedup']:.2f}x")
        ratios["network_hit_rate"] = hit

        print(f"\n4. Concurrency scaling ({seconds / 4:.1f} s each, 2 server threads, {os.cpu_count()} CPUs)")
        rates = {c: closed_loop(server, requests, clients=c, seconds=seconds / 4).throughput for c in (1, 2, 4, 8)}
        ratios["concurrency_4_over_1"], _, _ = paired(
            lambda: closed_loop(server, requests, clients=4, seconds=seconds / rounds).throughput,
            lambda: closed_loop(server, requests, clients=1, seconds=seconds / rounds).throughput, rounds)
        print("   " + "  ".join(f"{c} clients {r:6.0f} calls/s" for c, r in rates.items())
              + f"; 4 / 1 = {ratios['concurrency_4_over_1']:.2f}x (median of {rounds} alternating pairs)")

        print("\n5. Streaming (RegisterDataset, client-streamed 1 MiB chunks)")
        rng = np.random.default_rng(0)
        X = rng.uniform(0, 1, (200_000, 20)).astype(np.float32)  # 16 MiB of records
        big = Dataset(X, X[:, :1].copy(), name="stream")
        encoded = sum(r.ByteSize() for r in upload_requests(big))

        def encode_rate():
            t0 = time.perf_counter()
            sum(r.ByteSize() for r in upload_requests(big))
            return encoded / (time.perf_counter() - t0)

        def stream_rate():
            t0 = time.perf_counter()
            upload_dataset(server.datasets, big, timeout=120)
            return encoded / (time.perf_counter() - t0)

        ratios["streaming"], streamed, encoding = paired(stream_rate, encode_rate, 3)
        print(f"   {encoded / MiB:.0f} MiB: streamed {np.median(streamed) / MiB:.0f} MiB/s, "
              f"encoding alone {np.median(encoding) / MiB:.0f} MiB/s; ratio {ratios['streaming']:.3f}")
    finally:
        server.close()

    print(f"\n6. Memory peak (budget {MEMORY_BUDGET_MB} MiB, compiled-network cache unbounded, every creature new)")
    peak, load, stats = memory_churn(seconds=6 if quick else sustained)
    networks = next(c for c in stats.caches if c.name == "compiled-networks")
    ratios["memory_peak_over_budget"] = peak.bytes / (MEMORY_BUDGET_MB * MiB)
    print(f"   peak {peak.bytes / MiB:.1f} MiB after {networks.misses:,} networks compiled in {load.seconds:.0f} s "
          f"({len(load.errors)} errors, {stats.memory.critical_events} entries into the clearing level); peak / budget "
          f"{ratios['memory_peak_over_budget']:.2f} ({'under' if ratios['memory_peak_over_budget'] < 1 else 'OVER'} the budget)")
    return ratios


def check(ratios: dict[str, float], baselines: dict) -> list[str]:
    """Regressions: a ratio worse than its baseline by more than its tolerance (or any error)."""
    problems = [f"{ratios['errors']:.0f} calls failed under load"] if "errors" in ratios else []
    for name, base in baselines["ratios"].items():
        value, tol = ratios[name], base.get("tolerance", baselines["tolerance"])
        if "value" not in base:
            pass
        elif base["better"] == "higher" and value < base["value"] * (1 - tol):
            problems.append(f"{name} {value:.3f} < {base['value']:.3f} - {tol:.0%}")
        elif base["better"] == "lower" and value > base["value"] * (1 + tol):
            problems.append(f"{name} {value:.3f} > {base['value']:.3f} + {tol:.0%}")
        if "limit" in base and value > base["limit"]:
            problems.append(f"{name} {value:.3f} over its limit {base['limit']}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s phases, 5 s sustained load (the check's form)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", type=Path, metavar="FILE", help="fail on a regression against these baselines")
    group.add_argument("--record", type=Path, metavar="FILE", help="write this run's ratios as the baselines")
    args = parser.parse_args()
    print(f"evaluator: subprocess on loopback, 2 threads; {os.cpu_count()} CPUs; {'quick' if args.quick else 'full'} form")
    ratios = suites(args.quick)
    print("\nratios: " + json.dumps({k: round(v, 4) for k, v in ratios.items()}))
    if args.record:
        kept = json.loads(args.record.read_text()) if args.record.exists() else {"tolerance": 0.35, "ratios": {}}
        for name, value in ratios.items():
            if name in kept["ratios"] and "value" in kept["ratios"][name]:
                kept["ratios"][name]["value"] = round(value, 4)
        args.record.write_text(json.dumps(kept, indent=2) + "\n")
        print(f"recorded {args.record}")
    if args.check:
        problems = check(ratios, json.loads(args.check.read_text()))
        for p in problems:
            print(f"REGRESSION: {p}", file=sys.stderr)
        print(f"bench-check: {'FAILED' if problems else 'passed'} against {args.check}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
