"""Held-out accuracy of evolution alone, memetic evolution and scikit-learn's MLPClassifier.

scikit-learn's bundled breast cancer, wine and digits (`load_*`, no download): a stratified
70/30 split (seed 0), inputs standardised on the 70 %, targets one-hot. Both neatai runs go
through the real services, started in this process as `neatai run` starts them (an evaluator
and an evolver on loopback gRPC): the 70 % is split again 80/20 (seed 1) into the run's dataset
and its validation dataset (which picks RunInfo.best), StartRun with seed 1, the same
timeout_seconds budget, and RunConfig.memetic off or on (everything else the defaults). The best
creature is scored on the 30 % (argmax of the outputs). MLPClassifier (default: one hidden layer
of 100, random_state 0) trains on the same 70 %. Parameter counts: synapses + non-input biases
of the creature; coefs + intercepts of the MLP.

    .venv/bin/python bench/bench_memetic.py [--budget 30] [--datasets breast_cancer,wine,digits]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from sklearn import datasets as sk
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.datasets_servicer import upload_dataset
from neatai.evaluator import compile_network
from neatai.evaluator.server import start as start_evaluator
from neatai.evaluator.service import EvaluatorConfig
from neatai.evolver.server import start as start_evolver
from neatai.server import ServerConfig
from neatai.v1 import dataset_pb2_grpc, evolver_pb2 as S, evolver_pb2_grpc

import grpc


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]


def evolve(address: str, X, y, classes: int, budget: float, memetic: bool) -> Creature:
    channel = grpc.insecure_channel(address, [("grpc.max_receive_message_length", 64 << 20),
                                              ("grpc.max_send_message_length", 64 << 20)])
    stub, data = evolver_pb2_grpc.EvolverServiceStub(channel), dataset_pb2_grpc.DatasetServiceStub(channel)
    Xr, Xv, yr, yv = train_test_split(X, y, test_size=0.2, random_state=1, stratify=y)
    train_id = upload_dataset(data, Dataset(Xr.astype(np.float32), one_hot(yr, classes))).dataset_id
    valid_id = upload_dataset(data, Dataset(Xv.astype(np.float32), one_hot(yv, classes))).dataset_id
    config = S.RunConfig(seed=1, timeout_seconds=budget, target_error=0.0, memetic=memetic)
    run_id = stub.StartRun(S.StartRunRequest(config=config, dataset_id=train_id, validation_dataset_id=valid_id,
                                             task=S.TASK_CLASSIFICATION), timeout=60).run_id
    for _ in stub.WatchRun(S.WatchRunRequest(run_id=run_id)):
        pass
    run = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=60).run
    channel.close()
    return Creature.from_proto(run.best), run.latest


def parameters(creature: Creature) -> int:
    return len(creature.synapses) + sum(n.type != "input" for n in creature.neurons)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=30.0, help="seconds of wall clock per neatai run")
    p.add_argument("--datasets", default="breast_cancer,wine,digits")
    args = p.parse_args()
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=1)
    evaluator = start_evaluator(EvaluatorConfig(), loopback)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-memetic-") as state:
            evolver = start_evolver([evaluator.address], state, loopback, resume=False)
            try:
                for name in args.datasets.split(","):
                    d = getattr(sk, f"load_{name}")()
                    X, Xt, y, yt = train_test_split(d.data, d.target, test_size=0.3, random_state=0, stratify=d.target)
                    scaler = StandardScaler().fit(X)
                    X, Xt = scaler.transform(X), scaler.transform(Xt)
                    classes = int(d.target.max()) + 1
                    row = {"dataset": name}
                    for label, memetic in (("evolution", False), ("memetic", True)):
                        t0 = time.perf_counter()
                        best, latest = evolve(evolver.address, X, y, classes, args.budget, memetic)
                        out = compile_network(best).activate(Xt.astype(np.float32))
                        row[label] = (float((out.argmax(1) == yt).mean()), parameters(best),
                                      latest.generation, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    mlp = MLPClassifier(max_iter=2000, random_state=0).fit(X, y)
                    row["mlp"] = (float((mlp.predict(Xt) == yt).mean()),
                                  sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_), 0,
                                  time.perf_counter() - t0)
                    rows.append(row)
                    print(row, flush=True)
            finally:
                evolver.stop(1)
    finally:
        evaluator.stop(1)
    print(f"\nbudget {args.budget:g} s per neatai run; held-out accuracy (parameters, generations, wall s)")
    print("| dataset | evolution | memetic | MLPClassifier | memetic / MLP |")
    print("|---|---|---|---|---|")
    for r in rows:
        cell = lambda v: f"{v[0]:.3f} ({v[1]:,} p, {v[2]} gen, {v[3]:.0f} s)"  # noqa: E731
        mlp = f"{r['mlp'][0]:.3f} ({r['mlp'][1]:,} p, {r['mlp'][3]:.1f} s)"
        print(f"| {r['dataset']} | {cell(r['evolution'])} | {cell(r['memetic'])} | {mlp} | "
              f"{r['memetic'][0] / r['mlp'][0]:.3f} |")


if __name__ == "__main__":
    main()
