"""Evaluator RPC: a population of 150 XOR-sized creatures scored on XOR through `Evaluate` on a
real evaluator server (a subprocess on loopback), beside neat-python 2.0.0 creating and
activating 150 genomes of the same size on the same four records, in this process.

Also: Evaluate latency (p50/p99) at concurrency 1 and 4, a 1,000-record dataset (where the
kernel, not per-creature parsing, dominates), and the server's resident memory with 1,000
distinct compiled networks cached.

    .venv/bin/python bench/bench_evaluator_rpc.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import psutil

from neatai.creature import Creature
from neatai.datasets import Dataset, xor
from neatai.datasets_servicer import upload_dataset
from neatai.handlers import method_path
from neatai.v1 import dataset_pb2_grpc, evaluator_pb2, evaluator_pb2_grpc
from neatai.wire import evaluate_request

POP = 150
HIDDEN = 2  # neat-python's XOR winners average 2.5 non-output nodes and 6.9 connections
TIMEOUT = 60

NEAT_CONFIG = """
[NEAT]
fitness_criterion = max
fitness_threshold = 3.9
no_fitness_termination = False
pop_size = 150
reset_on_extinction = False

[DefaultGenome]
activation_default = sigmoid
activation_mutate_rate = 0.0
activation_options = sigmoid
aggregation_default = sum
aggregation_mutate_rate = 0.0
aggregation_options = sum
bias_init_mean = 0.0
bias_init_stdev = 1.0
bias_max_value = 30.0
bias_min_value = -30.0
bias_mutate_power = 0.5
bias_mutate_rate = 0.7
bias_replace_rate = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient = 0.5
conn_add_prob = 0.5
conn_delete_prob = 0.5
enabled_default = True
enabled_mutate_rate = 0.01
feed_forward = True
initial_connection = full_direct
node_add_prob = 0.2
node_delete_prob = 0.2
num_hidden = {hidden}
num_inputs = {inputs}
num_outputs = 1
response_init_mean = 1.0
response_init_stdev = 0.0
response_max_value = 30.0
response_min_value = -30.0
response_mutate_power = 0.0
response_mutate_rate = 0.0
response_replace_rate = 0.0
weight_init_mean = 0.0
weight_init_stdev = 1.0
weight_max_value = 30
weight_min_value = -30
weight_mutate_power = 0.5
weight_mutate_rate = 0.8
weight_replace_rate = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation = 20
species_elitism = 2

[DefaultReproduction]
elitism = 2
survival_threshold = 0.2
"""


# ---- populations ---------------------------------------------------------------------------

def creature(rng: np.random.Generator, inputs: int = 2, hidden: int = HIDDEN) -> Creature:
    """neat-python's full_direct topology: inputs → hidden → output plus inputs → output."""
    hid = [f"h{j}" for j in range(hidden)]
    neurons = [{"type": "hidden", "uuid": u, "bias": float(rng.normal()), "squash": "LOGISTIC"} for u in hid]
    neurons.append({"type": "output", "uuid": "output-0", "bias": float(rng.normal()), "squash": "LOGISTIC"})
    ins = [f"input-{i}" for i in range(inputs)]
    synapses = [{"fromUUID": i, "toUUID": h, "weight": float(rng.normal())} for i in ins for h in hid]
    synapses += [{"fromUUID": s, "toUUID": "output-0", "weight": float(rng.normal())} for s in ins + hid]
    return Creature.from_json({"input": inputs, "output": 1, "neurons": neurons, "synapses": synapses})


def neat_python(inputs: int = 2, hidden: int = HIDDEN):
    import neat
    from neat.innovation import InnovationTracker

    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write(NEAT_CONFIG.format(hidden=hidden, inputs=inputs))
    config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                         neat.DefaultStagnation, f.name)
    os.unlink(f.name)
    config.genome_config.innovation_tracker = InnovationTracker()
    genomes = []
    for key in range(POP):
        g = neat.DefaultGenome(key)
        g.configure_new(config.genome_config)
        genomes.append(g)
    return neat, config, genomes


def time_neat_python(neat, config, genomes, X: np.ndarray, Y: np.ndarray, repeats: int) -> float:
    """Best seconds to create every genome's network and compute its error on (X, Y)."""
    rows = X.astype(np.float64).tolist()
    targets = Y[:, 0].astype(np.float64).tolist()

    def once():
        for g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, config)
            g.fitness = -sum((net.activate(r)[0] - t) ** 2 for r, t in zip(rows, targets)) / len(rows)

    once()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t0)
    return best


# ---- server ----------------------------------------------------------------------------------

class ServerProcess:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neatai.app.cli", "serve", "evaluator", "--host", "127.0.0.1", "--port", "0",
             "--metrics-port", "-1", *args], stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            m = re.search(r"evaluator listening on port (\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            raise RuntimeError("evaluator server did not start")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=[
            ("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)])
        grpc.channel_ready_future(self.channel).result(timeout=TIMEOUT)
        self.evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(self.channel)
        self.datasets = dataset_pb2_grpc.DatasetServiceStub(self.channel)
        # what the evolver's pool calls: the request written from encoded creatures
        self.evaluate_bytes = self.channel.unary_unary(
            method_path(evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"], "Evaluate"),
            request_serializer=None, response_deserializer=evaluator_pb2.EvaluateResponse.FromString)

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def request(dataset_id: str, pop: list[Creature]) -> evaluator_pb2.EvaluateRequest:
    return evaluator_pb2.EvaluateRequest(dataset_id=dataset_id, creatures=[c.to_proto() for c in pop])


def request_bytes(dataset_id: str, pop: list[Creature]) -> bytes:
    """The request as neatai.evaluator_pool writes it: each creature encoded once, no message built."""
    head = evaluator_pb2.EvaluateRequest(dataset_id=dataset_id).SerializeToString()
    return evaluate_request(head, [c.to_bytes() for c in pop])


def best_rpc(server: ServerProcess, dataset_id: str, pops: list[list[Creature]], convert: str | None) -> float:
    """Best seconds per Evaluate over fresh populations (each evaluated once: cache misses).
    `convert`: None (requests prebuilt), "bytes" (the pool's path) or "messages" (to_proto)."""
    build = {"bytes": request_bytes, "messages": request, None: request_bytes}[convert]
    call = server.evaluator.Evaluate if convert == "messages" else server.evaluate_bytes
    reqs = [build(dataset_id, p) for p in pops] if convert is None else None
    best = float("inf")
    for i, pop in enumerate(pops):
        t0 = time.perf_counter()
        req = build(dataset_id, pop) if convert else reqs[i]
        reply = call(req, timeout=TIMEOUT)
        best = min(best, time.perf_counter() - t0)
        assert len(reply.results) == len(pop)
    return best


def latencies(server: ServerProcess, reqs: list, concurrency: int) -> list[float]:
    def call(req):
        t0 = time.perf_counter()
        server.evaluator.Evaluate(req, timeout=TIMEOUT)
        return time.perf_counter() - t0

    with ThreadPoolExecutor(concurrency) as ex:
        return list(ex.map(call, reqs))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 8 if args.quick else 20
    calls = 60 if args.quick else 200
    threads = min(os.cpu_count() or 1, 4)
    rng = np.random.default_rng(1)
    print(f"population {POP}, creatures 2 inputs/{HIDDEN} hidden/1 output/{2 * HIDDEN + HIDDEN + 2} synapses; "
          f"server: subprocess, {threads} threads, loopback; {os.cpu_count()} CPUs")

    server = ServerProcess("--threads", str(threads), "--network-cache-size", "4096")
    try:
        data = xor()
        dataset_id = upload_dataset(server.datasets, data, timeout=TIMEOUT).dataset_id
        neat, config, genomes = neat_python()
        t_peer = time_neat_python(neat, config, genomes, data.X, data.Y, rounds)
        pops = [[creature(rng) for _ in range(POP)] for _ in range(rounds)]
        t_e2e = best_rpc(server, dataset_id, pops, convert="bytes")
        t_msg = best_rpc(server, dataset_id, [[creature(rng) for _ in range(POP)] for _ in range(rounds)], "messages")
        t_rpc = best_rpc(server, dataset_id, [[creature(rng) for _ in range(POP)] for _ in range(rounds)], None)
        same = request(dataset_id, pops[0])
        server.evaluator.Evaluate(same, timeout=TIMEOUT)
        t_hit = min(_timed(lambda: server.evaluator.Evaluate(same, timeout=TIMEOUT)) for _ in range(rounds))
        print("\nXOR (4 records), best of rounds, ms per population of 150:")
        print(f"  neat-python create + activate + error     {t_peer * 1e3:8.2f}")
        print(f"  Evaluate RPC incl. client encoding        {t_e2e * 1e3:8.2f}   neat-python / this = {t_peer / t_e2e:5.2f}x")
        print(f"  Evaluate RPC incl. client to_proto        {t_msg * 1e3:8.2f}   neat-python / this = {t_peer / t_msg:5.2f}x")
        print(f"  Evaluate RPC, request prebuilt            {t_rpc * 1e3:8.2f}   neat-python / this = {t_peer / t_rpc:5.2f}x")
        print(f"  Evaluate RPC, same creatures (cache hits) {t_hit * 1e3:8.2f}   neat-python / this = {t_peer / t_hit:5.2f}x")

        # Larger data: the per-creature parse is paid once, the kernel per record.
        X = rng.uniform(0, 1, (1000, 2)).astype(np.float32)
        big = Dataset(X, ((X[:, :1] > 0.5) ^ (X[:, 1:] > 0.5)).astype(np.float32), name="xor-1000")
        big_id = upload_dataset(server.datasets, big, timeout=TIMEOUT).dataset_id
        t_peer_big = time_neat_python(neat, config, genomes, big.X, big.Y, max(2, rounds // 4))
        t_rpc_big = best_rpc(server, big_id, [[creature(rng) for _ in range(POP)] for _ in range(max(2, rounds // 4))], "bytes")
        print("\nnoisy XOR, 1,000 records, ms per population of 150:")
        print(f"  neat-python create + activate + error     {t_peer_big * 1e3:8.2f}")
        print(f"  Evaluate RPC incl. client encoding        {t_rpc_big * 1e3:8.2f}   neat-python / this = {t_peer_big / t_rpc_big:5.1f}x")

        reqs = [request(dataset_id, [creature(rng) for _ in range(POP)]) for _ in range(calls // 4)]
        reqs = reqs * 4  # a quarter fresh, the rest repeats: compile cache hits as in an evolving population
        print(f"\nEvaluate latency on XOR, {len(reqs)} calls of {POP} creatures (25% distinct populations):")
        for concurrency in (1, 4):
            lat = latencies(server, reqs, concurrency)
            wall = sum(lat) / concurrency
            print(f"  concurrency {concurrency}: p50 {pct(lat, 50):6.2f} ms  p99 {pct(lat, 99):6.2f} ms  "
                  f"~{len(reqs) / wall:6.0f} calls/s")

    finally:
        server.close()
    for inputs, hidden in ((2, HIDDEN), (10, 30)):
        resident_with_networks(rng, inputs, hidden)


def resident_with_networks(rng: np.random.Generator, inputs: int, hidden: int, count: int = 1000) -> None:
    """RSS of a fresh server before and after compiling and caching `count` distinct networks."""
    server = ServerProcess("--threads", "2", "--network-cache-size", str(count))
    try:
        X = rng.uniform(0, 1, (100, inputs)).astype(np.float32)
        dataset_id = upload_dataset(server.datasets, Dataset(X, X[:, :1]), timeout=TIMEOUT).dataset_id
        warm = [creature(rng, inputs, hidden) for _ in range(10)]
        server.evaluator.Evaluate(request(dataset_id, warm), timeout=TIMEOUT)
        before = server.rss()
        distinct = [creature(rng, inputs, hidden) for _ in range(count)]
        for start in range(0, count, 250):
            server.evaluator.Evaluate(request(dataset_id, distinct[start:start + 250]), timeout=TIMEOUT)
        stats = server.evaluator.GetStats(evaluator_pb2.GetStatsRequest(), timeout=TIMEOUT)
        networks = next(c for c in stats.caches if c.name == "compiled-networks")
        after = server.rss()
        synapses = inputs * hidden + hidden + inputs
        print(f"\nserver resident memory, {count:,} distinct {inputs}-input/{hidden}-hidden/{synapses}-synapse networks: "
              f"{before / 2**20:.0f} MiB warmed up -> {after / 2**20:.0f} MiB with compiled-networks holding "
              f"{networks.current_size:,} (limit 400 MB)")
    finally:
        server.close()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
