"""Cost of the ops layer on a trivial unary call: the Prometheus server + client interceptors
(neatai.grpc_metrics) against a bare server, measured in the same process, alternating, on the
echo service of tests/ops. The peer is the bare grpcio call itself (no metrics library is
installed to compare with). Prints p50/p99 latency at 1 outstanding call and the ratio.

    .venv/bin/python bench/bench_grpc_interceptors.py [--calls N] [--rounds R]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ops"))
import ops_echo  # noqa: E402

from neatai.grpc_metrics import GrpcMetrics, PrometheusClientInterceptor, PrometheusServerInterceptor  # noqa: E402


def setup(instrumented: bool):
    metrics = GrpcMetrics(CollectorRegistry())
    server, port = ops_echo.start([PrometheusServerInterceptor(metrics)] if instrumented else [])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    if instrumented:
        channel = grpc.intercept_channel(channel, PrometheusClientInterceptor(metrics))
    stub = ops_echo.Stub(channel)
    for _ in range(200):  # warm up: connection, thread pool
        stub.Unary(b"x" * 100, timeout=5)
    return server, channel, stub


def measure(stub, calls: int) -> list[float]:
    payload = b"x" * 100
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        stub.Unary(payload, timeout=5)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    envs = {name: setup(name == "interceptors") for name in ("bare", "interceptors")}
    samples: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(args.rounds):  # alternate so machine noise hits both alike
        for name, (_, _, stub) in envs.items():
            samples[name].extend(measure(stub, args.calls))
    rows = {}
    for name, s in samples.items():
        s.sort()
        rows[name] = (statistics.median(s) * 1e3, s[int(len(s) * 0.99)] * 1e3, len(s) / sum(s))
        print(f"{name:13s} p50 {rows[name][0]:.3f} ms  p99 {rows[name][1]:.3f} ms  {rows[name][2]:,.0f} calls/s "
              f"({len(s)} calls)")
    print(f"interceptors ÷ bare: p50 {rows['interceptors'][0] / rows['bare'][0]:.2f}×, "
          f"throughput {rows['interceptors'][2] / rows['bare'][2]:.2f}×")
    for server, channel, _ in envs.values():
        channel.close()
        server.stop(0)


if __name__ == "__main__":
    main()
