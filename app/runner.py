"""`neatai run`: evolve a network through real services in one command.

With no `--evolver`, an evaluator and an evolver start in this process on loopback (free ports)
and stop at the end; with `--evolver HOST:PORT` the same job runs on deployed services. The
dataset is uploaded to the evolver, a run is started and watched with a live progress bar, and
the results land in `--out`: `best.json` (NEAT-AI creature JSON), `progress.png` (best and mean
error per generation) and `network.png` (the winner). `--json` makes the last stdout line one
JSON object with the run's figures.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from neatai.costs import COST_NAMES, DEFAULT_COST, cost_number

RPC_TIMEOUT = 60.0


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="neatai run",
        description="Evolve a neural network with NEAT through an evolver and evaluators "
                    "(started in process unless --evolver names deployed ones).")
    p.add_argument("--dataset", default="xor",
                   help="xor (default), a .csv, .parquet or .npz file, or a directory of NEAT-AI N.bin files")
    p.add_argument("--targets", default="", help="CSV/Parquet: comma-separated target columns (default: the last)")
    p.add_argument("--inputs", type=int, help=".bin: inputs per record (checked against other formats)")
    p.add_argument("--outputs", type=int, help=".bin: outputs per record (checked against other formats)")
    p.add_argument("--seed", type=int, help="same seed, config and data give the same run")
    p.add_argument("--population", type=int, default=50, help="population size (default 50)")
    p.add_argument("--generations", type=int, default=1000, help="maximum generations (default 1000)")
    p.add_argument("--target-error", type=float, default=0.025,
                   help="stop when the best error reaches this (default 0.025: XOR's solved bar)")
    p.add_argument("--cost", default=DEFAULT_COST, type=str.upper, choices=COST_NAMES,
                   help=f"error function (default {DEFAULT_COST})")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    p.add_argument("--feedback-loop", action="store_true", help="recurrent state across records")
    p.add_argument("--out", help="output directory (default runs/<timestamp>/)")
    p.add_argument("--evolver", help="HOST:PORT of a deployed evolver (default: start services in process)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="in-process evaluator threads")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last stdout line)")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except UsageError as e:
        print(f"neatai run: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from neatai.datasets import DatasetError, load_path

    for name in ("population", "generations", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] or None
    try:
        dataset = load_path(args.dataset, targets=targets, inputs=args.inputs, outputs=args.outputs)
    except DatasetError as e:
        raise UsageError(f"dataset {args.dataset}: {e}") from None
    out = _out_dir(args.out)
    if args.evolver:
        return _drive(args, dataset, args.evolver, out)
    from neatai.evaluator.server import start as start_evaluator
    from neatai.evaluator.service import EvaluatorConfig
    from neatai.evolver.server import start as start_evolver
    from neatai.server import ServerConfig

    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=1)
    evaluator = start_evaluator(EvaluatorConfig(threads=args.threads), loopback)
    try:
        with tempfile.TemporaryDirectory(prefix="neatai-run-") as state:
            evolver = start_evolver([evaluator.address], state, loopback, resume=False)
            try:
                return _drive(args, dataset, evolver.address, out)
            finally:
                evolver.stop(1)
    finally:
        evaluator.stop(1)


def _drive(args: argparse.Namespace, dataset, address: str, out: Path) -> int:
    """Upload, start, watch, write results; the exit status."""
    import grpc

    from neatai.creature import Creature
    from neatai.datasets_servicer import upload_dataset
    from neatai.errors import field_violations
    from neatai.grpc_metrics import instrumented_channel
    from neatai.v1 import dataset_pb2_grpc
    from neatai.v1 import evolver_pb2 as S
    from neatai.v1 import evolver_pb2_grpc

    channel = instrumented_channel(address, [("grpc.max_receive_message_length", 64 << 20),
                                             ("grpc.max_send_message_length", 64 << 20)])
    stub = evolver_pb2_grpc.EvolverServiceStub(channel)
    config = S.RunConfig(population_size=args.population, iterations=args.generations, target_error=args.target_error,
                         cost=cost_number(args.cost),
                         feedback_loop=args.feedback_loop)
    if args.seed is not None:
        config.seed = args.seed
    if args.timeout is not None:
        config.timeout_seconds = args.timeout
    started = time.monotonic()
    try:
        upload_dataset(dataset_pb2_grpc.DatasetServiceStub(channel), dataset, timeout=RPC_TIMEOUT)
        run_id = stub.StartRun(S.StartRunRequest(config=config, dataset_id=dataset.id), timeout=RPC_TIMEOUT).run_id
    except grpc.RpcError as e:
        violations = "; ".join(f"{f}: {d}" for f, d in field_violations(e))
        raise UsageError(f"{address}: {e.code().name}: {violations or e.details()}") from None
    reports = []
    try:
        for message in _progress(_watch(stub, run_id), args):
            reports.append(message.report)
    except KeyboardInterrupt:
        stub.StopRun(S.StopRunRequest(run_id=run_id), timeout=RPC_TIMEOUT)
    except grpc.RpcError as e:
        print(f"neatai run: watching {run_id} on {address} failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    run = stub.GetRun(S.GetRunRequest(run_id=run_id), timeout=RPC_TIMEOUT).run
    wall = time.monotonic() - started
    channel.close()
    if not run.HasField("best"):
        print(f"neatai run: run {run_id} ended {S.RunState.Name(run.state)} without a scored creature: {run.message}",
              file=sys.stderr)
        return 1
    best = Creature.from_proto(run.best)
    _write_outputs(out, best, reports, args.target_error)
    summary = {
        "solved": run.state == S.RUN_STATE_SOLVED,
        "generations": run.latest.generation,
        "evaluations": run.latest.evaluations,
        "best_score": run.latest.best_score,
        "best_error": run.latest.best_error,
        "wall_seconds": round(wall, 3),
        "hidden_neurons": best.hidden_count,
        "synapses": len(best.synapses),
        "state": S.RunState.Name(run.state).removeprefix("RUN_STATE_").lower(),
        "run_id": run_id,
        "out": str(out.resolve()),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['state']} after {summary['generations']} generations and {summary['evaluations']} "
              f"evaluations in {wall:.1f}s: best error {summary['best_error']:.6g}, {summary['hidden_neurons']} "
              f"hidden neurons, {summary['synapses']} synapses")
        print(f"wrote {out / 'best.json'}, {out / 'progress.png'}, {out / 'network.png'}")
    if run.state in (S.RUN_STATE_SOLVED, S.RUN_STATE_EXHAUSTED):
        return 0
    if run.message:
        print(f"neatai run: {run.message}", file=sys.stderr)
    return 1


def _watch(stub, run_id: str, retries: int = 5):
    """WatchRun, resumed from the next generation when the stream breaks: servers age connections
    out (max_connection_age) and a restarted evolver resumes the run, so a long run outlives streams."""
    import grpc

    from neatai.v1 import evolver_pb2 as S

    next_generation, failures = 0, 0
    while True:
        try:
            for message in stub.WatchRun(S.WatchRunRequest(run_id=run_id, from_generation=next_generation)):
                failures = 0
                next_generation = message.report.generation + 1
                yield message
            return
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or failures >= retries:
                raise
            failures += 1
            time.sleep(0.1 * 2 ** (failures - 1))


def _progress(stream, args: argparse.Namespace):
    """Pass reports through while a rich progress bar (on stderr) shows them."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = [TextColumn("generation {task.completed:>4.0f}"), BarColumn(bar_width=16),
               TextColumn("best error {task.fields[best]:<9.4g}"), TextColumn("species {task.fields[species]:>2}"),
               TextColumn("{task.fields[rate]:>6.0f} evaluations/s"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
        task = progress.add_task("run", total=args.generations, best=float("nan"), species=0, rate=0.0)
        for message in stream:
            r = message.report
            rate = r.evaluations / r.wall_seconds if r.wall_seconds > 0 else 0.0
            progress.update(task, completed=r.generation, best=r.best_error, species=r.species, rate=rate)
            yield message


def _write_outputs(out: Path, best, reports, target_error: float) -> None:
    from .plots import draw_network, plot_progress

    out.mkdir(parents=True, exist_ok=True)
    (out / "best.json").write_text(best.to_json(indent=2) + "\n")
    plot_progress([{"generation": r.generation, "best_error": r.best_error, "mean_error": r.mean_error}
                   for r in reports], out / "progress.png", target_error=target_error)
    draw_network(best, out / "network.png")


def _out_dir(given: str | None) -> Path:
    if given:
        path = Path(given)
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {given}: exists and is not a directory")
        return path
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{n}"
    return path
