"""Load generation against a real evaluator process, shared by bench_service.py and the load
tests: closed-loop (as fast as N clients go: the saturation throughput), open-loop at a fixed
arrival rate (latency measured from each call's scheduled start, so a stalled server cannot hide
its queue), and a resident-memory sampler. Workloads are XOR-sized populations as an evolving
run sends them: a share of each generation's creatures repeats the last one's (its elites)."""
from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import numpy as np
import psutil
from bench_evaluator_rpc import TIMEOUT, ServerProcess, creature

from neatai.v1 import evaluator_pb2
from neatai.wire import evaluate_request

__all__ = ["MEMORY_BUDGET_MB", "Load", "ServerProcess", "TIMEOUT", "clients_loop", "closed_loop", "evolving_requests", "memory_churn",
           "noisy_xor", "open_loop", "peak_rss"]


@dataclass
class Load:
    """What a load phase measured: per-call latencies (s), failures by status, its length (s)."""
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def calls(self) -> int:
        return len(self.latencies) + len(self.errors)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1e3


def noisy_xor(records: int = 1000):
    """XOR on uniform inputs: enough records that the kernels, not the call, set the pace."""
    from neatai.datasets import Dataset

    X = np.random.default_rng(0).uniform(0, 1, (records, 2)).astype(np.float32)
    return Dataset(X, ((X[:, :1] > 0.5) ^ (X[:, 1:] > 0.5)).astype(np.float32), name=f"xor-{records}")


def evolving_requests(dataset_id: str, generations: int, size: int, elites: float, seed: int = 0,
                      inputs: int = 2, hidden: int = 2) -> list[bytes]:
    """`generations` Evaluate requests of `size` creatures of one topology (bench_evaluator_rpc's
    full_direct), each keeping the first `elites` share of the previous generation unchanged and
    drawing new biases for the rest (compiled-network cache misses)."""
    rng = np.random.default_rng(seed)
    template = creature(rng, inputs, hidden).to_proto()

    def offspring() -> bytes:  # new biases make a new network; drawing only those keeps this fast
        for neuron, bias in zip(template.neurons, rng.normal(size=len(template.neurons))):
            neuron.bias = bias
        return template.SerializeToString()

    kept = int(size * elites)
    population: list[bytes] = []
    out = []
    for _ in range(generations):
        population = population[:kept] + [offspring() for _ in range(size - len(population[:kept]))]
        rng.shuffle(population)
        out.append(evaluate_request(evaluator_pb2.EvaluateRequest(dataset_id=dataset_id).SerializeToString(), population))
    return out


def _call(server: ServerProcess, request: bytes, load: Load, started: float, lock: threading.Lock) -> None:
    try:
        server.evaluate_bytes(request, timeout=TIMEOUT)
        latency, error = time.perf_counter() - started, None
    except grpc.RpcError as e:
        latency, error = None, e.code().name
    with lock:
        (load.latencies.append(latency) if error is None else load.errors.append(error))


def clients_loop(clients: int, seconds: float, call_once) -> Load:
    """`clients` threads, each calling `call_once(load, lock)` back to back for `seconds`."""
    load, lock = Load(), threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client():
        while time.perf_counter() < deadline:
            call_once(load, lock)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - start
    return load


def closed_loop(server: ServerProcess, requests: list[bytes], clients: int, seconds: float) -> Load:
    """`clients` callers, each sending its next request as soon as the last is answered."""
    feed, feed_lock = itertools.cycle(requests), threading.Lock()

    def once(load: Load, lock: threading.Lock) -> None:
        with feed_lock:
            request = next(feed)
        _call(server, request, load, time.perf_counter(), lock)

    return clients_loop(clients, seconds, once)


def open_loop(server: ServerProcess, requests: list[bytes], rate: float, seconds: float, max_in_flight: int = 32) -> Load:
    """Calls arriving at `rate` per second for `seconds`, whatever the server's pace. At most
    `max_in_flight` are sent at once (below the server's --max-concurrent-rpcs, 64 by default:
    beyond it calls are refused by design); later ones wait, and their wait counts as latency."""
    load, lock = Load(), threading.Lock()
    feed = itertools.cycle(requests)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_in_flight) as pool:
        for i in range(int(rate * seconds)):
            due = start + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(_call, server, next(feed), load, due, lock)
    load.seconds = time.perf_counter() - start
    return load


class peak_rss:
    """`with peak_rss(pid) as peak: ...` then `peak.bytes`: the process's highest resident memory,
    sampled every `interval_s` while the block runs."""

    def __init__(self, pid: int, interval_s: float = 0.02):
        self.process, self.interval_s, self.bytes = psutil.Process(pid), interval_s, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.bytes = max(self.bytes, self.process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "peak_rss":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, self.process.memory_info().rss)


# The memory workload: every creature new (10 inputs, 30 hidden: ~2.5 KiB compiled) into a
# compiled-network cache too large to ever fill, so only the memory monitor bounds the process:
# unmonitored it grows from ~60 MiB to ~135 MiB. The monitor samples once a second, so caches are
# cleared from 70 % of the budget (not the default 85 %): a second of churn fits in what is left.
MEMORY_BUDGET_MB = 120
MEMORY_FLAGS = ("--network-cache-size", "1000000", "--memory-budget-mb", str(MEMORY_BUDGET_MB),
                "--memory-warning", "0.6", "--memory-critical", "0.7", "--memory-check-interval", "0.2")


def memory_churn(seconds: float) -> tuple[peak_rss, Load, evaluator_pb2.GetStatsResponse]:
    """Churn a fresh evaluator started with MEMORY_FLAGS for `seconds`: its peak RSS, the load, its stats."""
    from neatai.datasets import Dataset
    from neatai.datasets_servicer import upload_dataset

    server = ServerProcess("--threads", "2", *MEMORY_FLAGS)
    try:
        X = np.random.default_rng(0).uniform(0, 1, (100, 10)).astype(np.float32)
        dataset_id = upload_dataset(server.datasets, Dataset(X, X[:, :1]), timeout=TIMEOUT).dataset_id
        requests = evolving_requests(dataset_id, generations=600, size=50, elites=0.0, inputs=10, hidden=30)
        with peak_rss(server.proc.pid) as peak:
            load = closed_loop(server, requests, clients=2, seconds=seconds)
        return peak, load, server.evaluator.GetStats(evaluator_pb2.GetStatsRequest(), timeout=TIMEOUT)
    finally:
        server.close()
