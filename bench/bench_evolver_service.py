"""XOR through the services: what the evolver service, its evaluator pool and the per-generation
checkpoints cost on top of the in-process ask/tell loop, beside neat-python 2.0.0.

For each seed the same run (population 150, <= 300 generations, MSE <= 0.025) goes
  1. in process: `Evolution` + `evaluate_in_process` (bench_xor's neatai row),
  2. through an evolver and an evaluator on loopback gRPC, checkpointing every generation,
  3. neat-python with its example XOR config, in this process.
Same seed gives the same run in 1 and 2 (same generations and evaluations); the difference in
wall time is the service overhead: Evaluate RPCs, protobuf conversion, WatchRun, checkpoints.

    .venv/bin/python bench/bench_evolver_service.py [--seeds 20] [--evaluators 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_xor  # noqa: E402
import grpc  # noqa: E402

from neatai.datasets import xor  # noqa: E402
from neatai.datasets_servicer import upload_dataset  # noqa: E402
from neatai.evaluator.server import start as start_evaluator  # noqa: E402
from neatai.evaluator.service import EvaluatorConfig  # noqa: E402
from neatai.evolver.server import start as start_evolver  # noqa: E402
from neatai.server import ServerConfig  # noqa: E402
from neatai.v1 import dataset_pb2_grpc, evolver_pb2, evolver_pb2_grpc  # noqa: E402


def run_service(stub, dataset_id: str, seed: int) -> dict:
    config = evolver_pb2.RunConfig(population_size=bench_xor.POPULATION, seed=seed, target_error=0.025,
                                   iterations=bench_xor.GENERATIONS)
    t = time.perf_counter()
    run_id = stub.StartRun(evolver_pb2.StartRunRequest(config=config, dataset_id=dataset_id), timeout=30).run_id
    reports = [m.report for m in stub.WatchRun(evolver_pb2.WatchRunRequest(run_id=run_id), timeout=600)]
    wall = time.perf_counter() - t
    last = reports[-1]
    phase = lambda name: statistics.fmean(r.phase_seconds.get(name, 0.0) for r in reports)  # noqa: E731
    return {"solved": last.state == evolver_pb2.RUN_STATE_SOLVED, "evaluations": last.evaluations, "wall": wall,
            "generations": last.generation, "hidden": last.hidden_neurons,
            "evaluate_ms": 1e3 * phase("evaluate"), "checkpoint_ms": 1e3 * phase("checkpoint")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--evaluators", type=int, default=1, help="evaluator servers the evolver spreads batches over")
    ap.add_argument("--evaluator-threads", type=int, default=2)
    args = ap.parse_args()
    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=0)
    evaluators = [start_evaluator(EvaluatorConfig(threads=args.evaluator_threads), loopback)
                  for _ in range(args.evaluators)]
    state = tempfile.TemporaryDirectory(prefix="bench-evolver-")
    evolver = start_evolver([e.address for e in evaluators], state.name, loopback)
    channel = grpc.insecure_channel(evolver.address)
    stub = evolver_pb2_grpc.EvolverServiceStub(channel)
    dataset_id = upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), xor(), timeout=30).dataset_id
    config = bench_xor.neat_python_config()
    inproc, service, theirs = [], [], []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    try:
        run_service(stub, dataset_id, 0)  # warm-up: channels, compile caches
        for seed in seeds:
            inproc.append(bench_xor.run_neatai(seed))
            service.append(run_service(stub, dataset_id, seed))
            theirs.append(bench_xor.run_neat_python(config, seed))
            a, b = inproc[-1], service[-1]
            same = (a["evaluations"], a["generations"]) == (b["evaluations"], b["generations"])
            print(f"seed {seed}: in-process {a['generations']} gen {a['wall']:.3f}s | service {b['generations']} gen "
                  f"{b['wall']:.3f}s {'(same run)' if same else '(DIFFERENT RUN)'} | neat-python "
                  f"{theirs[-1]['wall']:.3f}s", file=sys.stderr)
    finally:
        channel.close()
        evolver.stop(0)
        for e in evaluators:
            e.stop(0)
        state.cleanup()
    same = sum((a["evaluations"], a["generations"]) == (b["evaluations"], b["generations"])
               for a, b in zip(inproc, service))
    gens = sum(b["generations"] for b in service)
    overhead_ms = 1e3 * (sum(b["wall"] for b in service) - sum(a["wall"] for a in inproc)) / gens
    print(f"XOR, population {bench_xor.POPULATION}, <= {bench_xor.GENERATIONS} generations, seeds "
          f"{seeds.start}..{seeds.stop - 1}, {args.evaluators} evaluator(s) x {args.evaluator_threads} threads")
    print("| path | solved | mean evals | median wall s | mean wall s |")
    print("|---|---|---|---|---|")
    for name, rows in (("neatai in process", inproc), ("neatai evolver + evaluator (gRPC, checkpoints)", service),
                       ("neat-python 2.0.0", theirs)):
        s = bench_xor.summary(name, rows)
        print(f"| {name} | {s['solved']} | {s['mean_evals']:,.0f} | {s['median_wall']:.3f} | {s['mean_wall']:.3f} |")
    print(f"identical runs in process and through the services: {same}/{len(service)}")
    print(f"service overhead per generation: {overhead_ms:.2f} ms (mean Evaluate phase "
          f"{statistics.fmean(b['evaluate_ms'] for b in service):.2f} ms, checkpoint "
          f"{statistics.fmean(b['checkpoint_ms'] for b in service):.2f} ms)")
    med = lambda rows: statistics.median(r["wall"] for r in rows)  # noqa: E731
    print(f"median wall: neat-python / service = {med(theirs) / med(service):.2f}x; "
          f"service / in process = {med(service) / med(inproc):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
