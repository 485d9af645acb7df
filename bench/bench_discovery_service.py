"""Discovery through the real services: the improvement one discovery run brings to a plateaued
creature, and evolution with and without discovery at the same wall-clock budget.

scikit-learn's bundled breast cancer (`load_breast_cancer`, no download): a stratified 70/30
split (seed 0), inputs standardised on the 70 %, the class one-hot (2 outputs, LOGISTIC, cost
CROSS_ENTROPY, symmetric initial weights: what `neatai run` picks for it). An evaluator, a
discovery service (the analysis engine on NumPy or CuPy as it chooses) and an evolver run in
this process on loopback gRPC, as `neatai run --discovery` starts them.

1. Plateau: evolution alone (seed 1) for `--budget` seconds; its best creature is the start.
2. `--runs` discovery runs in a chain, each on the previous result (seeds 0, 1, …; one cache
   across the chain, as a deployment keeps it): per run, the training error before and after
   (the re-scored original against the best candidate, in one Evaluate batch), the relative
   error reduction, the score gain, the seconds. Seed 000 quotes 0.5-3 % per run.
3. The same budget twice from scratch (seed 2): discovery off, then on (discoverySampleRate
   0.2, every 10 generations and on 5-generation plateaus); best training error, held-out
   accuracy on the 30 %, discoveries and those that improved.

    .venv/bin/python bench/bench_discovery_service.py [--budget 60] [--runs 20]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import grpc
import numpy as np
from sklearn import datasets as sk
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset
from neatai.discovery.server import start as start_discovery
from neatai.evaluator import compile_network
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, discovery_pb2, discovery_pb2_grpc, evaluator_pb2, evolver_pb2 as S, \
    evolver_pb2_grpc

COST = evaluator_pb2.COST_FUNCTION_CROSS_ENTROPY


def data() -> tuple[Dataset, np.ndarray, np.ndarray]:
    d = sk.load_breast_cancer()
    X, Xt, y, yt = train_test_split(d.data, d.target, test_size=0.3, random_state=0, stratify=d.target)
    scaler = StandardScaler().fit(X)
    train = Dataset(scaler.transform(X).astype(np.float32), np.eye(2, dtype=np.float32)[y], name="breast_cancer")
    return train, scaler.transform(Xt).astype(np.float32), yt


def evolve(stub, dataset_id: str, budget: float, seed: int, discovery: bool):
    config = S.RunConfig(seed=seed, timeout_seconds=budget, target_error=0.0, cost=COST, fixed_output_squash="LOGISTIC",
                         initial_weights="symmetric", discovery_sample_rate=0.2 if discovery else -1.0)
    run_id = stub.StartRun(S.StartRunRequest(config=config, dataset_id=dataset_id), timeout=60).run_id
    reports = [m.report for m in stub.WatchRun(S.WatchRunRequest(run_id=run_id))]
    run = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=60).run
    return Creature.from_proto(run.best), run.latest, reports


def accuracy(creature: Creature, X: np.ndarray, y: np.ndarray) -> float:
    return float((compile_network(creature).activate(X).argmax(axis=1) == y).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=60.0, help="seconds of evolution (plateau, and each comparison run)")
    p.add_argument("--runs", type=int, default=20, help="discovery runs in the chain (at least 10)")
    args = p.parse_args()
    train, Xt, yt = data()
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=1)
    evaluator = start_evaluator(EvaluatorConfig(), loopback)
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as tmp:
        discovery = start_discovery([evaluator.address], f"{tmp}/cache", loopback, evaluator_threads=evaluator.evaluator.threads)
        evolver = start_evolver([evaluator.address], None, loopback, discovery=discovery.address)
        try:
            with grpc.insecure_channel(evolver.address) as ech, grpc.insecure_channel(discovery.address) as dch:
                estub = evolver_pb2_grpc.EvolverServiceStub(ech)
                dstub = discovery_pb2_grpc.DiscoveryServiceStub(dch)
                dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(ech), train).dataset_id
                upload_dataset(dataset_pb2_grpc.DatasetServiceStub(dch), train)
                creature, latest, reports = evolve(estub, dataset_id, args.budget, 1, discovery=False)
                print(f"breast cancer: {train.records} training records, {train.inputs} inputs; backend "
                      f"{discovery.service.config.backend}")
                print(f"plateau: {latest.generation} generations in {args.budget:.0f}s, best error {latest.best_error:.5f}, "
                      f"{creature.hidden_count} hidden, {len(creature.synapses)} synapses, "
                      f"held-out accuracy {accuracy(creature, Xt, yt):.4f}")
                print(f"\n{'run':>3} {'error before':>12} {'error after':>12} {'reduction %':>11} {'score gain':>11} "
                      f"{'seconds':>8}  change")
                reductions, seconds = [], []
                start_error = None
                for k in range(args.runs):
                    request = discovery_pb2.DiscoverRequest(
                        dataset_id=train.id, creature=creature.to_proto(),
                        options=discovery_pb2.DiscoverOptions(seed=k, cost=COST, sample_rate=0.2))
                    t0 = time.perf_counter()
                    (*_, last) = dstub.Discover(request, timeout=900)
                    elapsed = time.perf_counter() - t0
                    r = last.result
                    start_error = r.original_error if start_error is None else start_error
                    after = r.best.error if r.improved else r.original_error
                    reduction = 100.0 * (r.original_error - after) / r.original_error if r.original_error else 0.0
                    reductions.append(reduction)
                    seconds.append(elapsed)
                    print(f"{k:>3} {r.original_error:>12.6f} {after:>12.6f} {reduction:>11.3f} "
                          f"{r.best.score_delta if r.improved else 0.0:>11.6f} {elapsed:>8.2f}  "
                          f"{r.best.change_type if r.improved else '-'}")
                    if r.improved:
                        creature = Creature.from_proto(r.best.creature)
                q = statistics.quantiles(reductions, n=4) if len(reductions) > 1 else reductions * 3
                improved = sum(x > 0 for x in reductions)
                print(f"\nper run: error reduction median {statistics.median(reductions):.3f} % "
                      f"(quartiles {q[0]:.3f} / {q[2]:.3f}, min {min(reductions):.3f}, max {max(reductions):.3f}); "
                      f"{improved}/{len(reductions)} runs improved; seconds median {statistics.median(seconds):.2f} "
                      f"(max {max(seconds):.2f})")
                print(f"chain: training error {start_error:.6f} -> {after:.6f} "
                      f"({100 * (start_error - after) / start_error:.2f} % in {len(reductions)} runs), held-out accuracy "
                      f"{accuracy(creature, Xt, yt):.4f}, {creature.hidden_count} hidden, {len(creature.synapses)} synapses")
                in_range = sum(0.5 <= x <= 3.0 for x in reductions)
                print(f"seed 000's 0.5-3 % per run: {in_range}/{len(reductions)} runs in that range")

                print(f"\nsame budget ({args.budget:.0f}s), seed 2, from scratch:")
                for on in (False, True):
                    best, latest, reports = evolve(estub, dataset_id, args.budget, 2, discovery=on)
                    found = sum(r.discovery_runs for r in reports)
                    joined = sum(r.discovery_improved for r in reports)
                    print(f"  discovery {'on ' if on else 'off'}: {latest.generation:>5} generations, best error "
                          f"{latest.best_error:.5f}, held-out accuracy {accuracy(best, Xt, yt):.4f}, "
                          f"{best.hidden_count} hidden" + (f", {found} discoveries ({joined} joined)" if on else ""))
        finally:
            evolver.stop(1)
            discovery.stop(1)
            evaluator.stop(1)


if __name__ == "__main__":
    main()
