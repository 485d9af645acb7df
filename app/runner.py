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
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from neatai import squash as squashes
from neatai.costs import COST_NAMES, cost_number
from neatai.evolver.config import INITIAL_WEIGHTS
from neatai.tasks import CLASSIFICATION, TASKS, task_metrics

from .prepare import Part, Prepared
from .progress import progress

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
    p.add_argument("--test", help="a separate file (same format and columns) to score the best creature on")
    p.add_argument("--task", choices=TASKS, help="default: inferred (one-hot or one integer class column: "
                                                 "classification, else regression)")
    p.add_argument("--validation-fraction", type=float, default=0.2,
                   help="records held out to pick the best creature and report on (default 0.2)")
    p.add_argument("--seed", type=int, help="same seed, config and data give the same run (default: drawn, printed)")
    p.add_argument("--population", type=int, default=50, help="population size (default 50)")
    p.add_argument("--generations", type=int, default=1000, help="maximum generations (default 1000)")
    p.add_argument("--target-error", type=float, default=0.025,
                   help="stop when the best training error reaches this (default 0.025: XOR's solved bar)")
    p.add_argument("--cost", type=str.upper, choices=COST_NAMES,
                   help="error function (default: CROSS_ENTROPY for classification, MSE for regression and xor)")
    p.add_argument("--output-squash", help="pin the outputs' squash (default: LOGISTIC or SOFTMAX for "
                                           "classification, IDENTITY for regression, evolved for xor)")
    p.add_argument("--initial-weights", choices=INITIAL_WEIGHTS,
                   help="default: symmetric (neat-ai for xor)")
    p.add_argument("--standardise", action=argparse.BooleanOptionalAction,
                   help="standardise inputs (and regression targets) for evolution (default: on, off for xor)")
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

    from .prepare import PrepareError, prepare

    for name in ("population", "generations", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if args.seed is not None and not 0 <= args.seed < 2 ** 63:
        raise UsageError(f"--seed must be in [0, 2^63), got {args.seed}")
    if not args.target_error >= 0:  # any non-negative error: regression errors are in the targets' units
        raise UsageError(f"--target-error must be >= 0, got {args.target_error}")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    if not 0 <= args.validation_fraction < 1:
        raise UsageError(f"--validation-fraction must be in [0, 1), got {args.validation_fraction}")
    if args.output_squash is not None and (args.output_squash not in squashes.BY_NAME or args.output_squash == "IF"):
        raise UsageError(f"--output-squash {args.output_squash}: not a squash name (IF cannot be an output's)")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] or None
    seed = args.seed if args.seed is not None else secrets.randbits(32)

    def load(path: str):
        try:
            return load_path(path, targets=targets, inputs=args.inputs, outputs=args.outputs)
        except DatasetError as e:
            raise UsageError(str(e) if str(e).startswith(path) else f"dataset {path}: {e}") from None

    dataset = load(args.dataset)
    test = load(args.test) if args.test else None
    try:
        prepared = prepare(dataset, task=args.task, cost=args.cost, output_squash=args.output_squash,
                           initial_weights=args.initial_weights, standardise=args.standardise,
                           validation_fraction=args.validation_fraction, seed=seed)
        test_part = prepared.encode(test, args.test) if test is not None else None
    except PrepareError as e:
        raise UsageError(str(e)) from None
    out = _out_dir(args.out)
    say = sys.stderr if args.json else sys.stdout
    print(f"seed: {seed}" + ("" if args.seed is not None else f" (drawn; --seed {seed} repeats this run)"), file=say)
    for line in prepared.choices:
        print(line, file=say)
    job = Job(args, prepared, seed, test_part, out)
    if args.evolver:
        return _drive(job, args.evolver)
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
                return _drive(job, evolver.address)
            finally:
                evolver.stop(1)
    finally:
        evaluator.stop(1)


@dataclass
class Job:
    """What one `neatai run` evolves on and where its results go."""

    args: argparse.Namespace
    prepared: Prepared
    seed: int
    test: Part | None
    out: Path


def _drive(job: Job, address: str) -> int:
    """Upload, start, watch, write results; the exit status."""
    import grpc

    from neatai.datasets_servicer import upload_dataset
    from neatai.errors import field_violations
    from neatai.grpc_metrics import instrumented_channel
    from neatai.v1 import dataset_pb2_grpc
    from neatai.v1 import evolver_pb2 as S
    from neatai.v1 import evolver_pb2_grpc

    args, prepared = job.args, job.prepared
    channel = instrumented_channel(address, [("grpc.max_receive_message_length", 64 << 20),
                                             ("grpc.max_send_message_length", 64 << 20)])
    stub = evolver_pb2_grpc.EvolverServiceStub(channel)
    config = S.RunConfig(population_size=args.population, iterations=args.generations, target_error=args.target_error,
                         cost=cost_number(prepared.cost), feedback_loop=args.feedback_loop, seed=job.seed,
                         initial_weights=prepared.initial_weights)
    if prepared.output_squash:
        config.fixed_output_squash = prepared.output_squash
    if args.timeout is not None:
        config.timeout_seconds = args.timeout
    request = S.StartRunRequest(config=config, task=S.TASK_CLASSIFICATION if prepared.task == CLASSIFICATION
                                else S.TASK_REGRESSION)
    started = time.monotonic()
    datasets = dataset_pb2_grpc.DatasetServiceStub(channel)
    try:
        request.dataset_id = upload_dataset(datasets, prepared.dataset(prepared.train), timeout=RPC_TIMEOUT).dataset_id
        if prepared.validation is not None:
            request.validation_dataset_id = upload_dataset(datasets, prepared.dataset(prepared.validation),
                                                           timeout=RPC_TIMEOUT).dataset_id
        run_id = stub.StartRun(request, timeout=RPC_TIMEOUT).run_id
    except grpc.RpcError as e:
        violations = "; ".join(f"{f}: {d}" for f, d in field_violations(e))
        raise UsageError(f"{address}: {e.code().name}: {violations or e.details()}") from None
    reports = []
    try:
        for message in progress(_watch(stub, run_id), args.generations, args.timeout):
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
    summary = _results(job, run, reports, wall)
    if args.json:
        print(json.dumps(summary))
    else:
        print(_describe(summary))
    if run.state in (S.RUN_STATE_SOLVED, S.RUN_STATE_EXHAUSTED):
        return 0
    if run.message:
        print(f"neatai run: {run.message}", file=sys.stderr)
    return 1


def _results(job: Job, run, reports, wall: float) -> dict:
    """Export the best creature with the scaling folded in, measure it on every part, write the files."""
    from neatai.creature import Creature
    from neatai.evaluator import compile_network
    from neatai.genome.scaling import unstandardised
    from neatai.v1 import evolver_pb2 as S

    prepared = job.prepared
    best = unstandardised(Creature.from_proto(run.best), prepared.input_scaling, prepared.target_scaling)
    network = compile_network(best)
    feedback = job.args.feedback_loop
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
        "run_id": run.run_id,
        "task": prepared.task,
        "cost": prepared.cost,
        "seed": job.seed,
        "held_out": prepared.validation is not None,
    }
    parts = {"train": prepared.train, "validation": prepared.validation, "test": job.test}
    for name, part in parts.items():
        if part is not None:
            figures = task_metrics(prepared.task, network.activate(part.X, feedback), part.Y)
            summary.update({f"{name}_{k}": v for k, v in figures.items()})
    if run.latest.HasField("validation_error"):
        summary["validation_error"] = run.latest.validation_error
    names = (prepared.feature_names, prepared.target_names)
    summary["out"] = str(_write_safely(job.out, best, reports, job.args.target_error, names).resolve())
    return summary


def _write_safely(out: Path, best, reports, target_error: float, names: tuple) -> Path:
    """A finished run is never lost: when `out` cannot take the files (it was checked before the
    run, but disks fill and permissions change), they go to a fresh temporary directory."""
    try:
        return _write_outputs(out, best, reports, target_error, names)
    except OSError as e:
        fallback = Path(tempfile.mkdtemp(prefix="neatai-run-"))
        print(f"neatai run: cannot write to {out} ({e.strerror or e}); the results are in {fallback} instead",
              file=sys.stderr)
        return _write_outputs(fallback, best, reports, target_error, names)


def _describe(summary: dict) -> str:
    """The human summary: how the run ended and the task's metric on every part."""
    lines = [f"{summary['state']} after {summary['generations']} generations and {summary['evaluations']} "
             f"evaluations in {summary['wall_seconds']:.1f}s: best training error {summary['best_error']:.6g}, "
             f"{summary['hidden_neurons']} hidden neurons, {summary['synapses']} synapses"]
    metric = "accuracy" if summary["task"] == CLASSIFICATION else "r2"
    for part in ("train", "validation", "test"):
        if f"{part}_{metric}" not in summary:
            continue
        text = f"{part}: {metric} {summary[f'{part}_{metric}']:.4f}"
        if metric == "r2":
            text += f", RMSE {summary[f'{part}_rmse']:.6g}"
        elif len(summary[f"{part}_per_class_accuracy"]) > 2 or part != "train":
            text += " (per class " + ", ".join("-" if a is None else f"{a:.2f}"
                                               for a in summary[f"{part}_per_class_accuracy"]) + ")"
        if part == "validation":
            text += f", error {summary['validation_error']:.6g}" if "validation_error" in summary else ""
        lines.append(text)
    if not summary["held_out"]:
        lines.append("(evaluated on the whole dataset: too few records to hold a validation part out)")
    out = Path(summary["out"])
    lines.append(f"wrote {out / 'best.json'}, {out / 'progress.png'}, {out / 'network.png'} (and .svg of each)")
    return "\n".join(lines)


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


def _write_outputs(out: Path, best, reports, target_error: float, names: tuple) -> Path:
    from .plots import draw_network, plot_progress

    out.mkdir(parents=True, exist_ok=True)
    (out / "best.json").write_text(best.to_json(indent=2) + "\n")
    plot_progress([{"generation": r.generation, "best_error": r.best_error, "mean_error": r.mean_error,
                    "validation_error": r.validation_error if r.HasField("validation_error") else None}
                   for r in reports], out / "progress.png", target_error=target_error)
    draw_network(best, out / "network.png", input_names=names[0], output_names=names[1])
    return out


def _out_dir(given: str | None) -> Path:
    """The output directory, checked before the run (created only when results are written)."""
    if given:
        path = Path(given)
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {given}: exists and is not a directory")
        _check_writable(path, "--out " + given)
        return path
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{n}"
    _check_writable(path, f"the output directory {path}")
    return path


def _check_writable(path: Path, label: str) -> None:
    """The nearest existing directory on the way to `path` must let us create entries."""
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{label}: {existing} is not a directory")
    try:  # os.access is not enough: root passes it on read-only mounts
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise UsageError(f"{label}: cannot write in {existing} ({e.strerror or e})") from None
