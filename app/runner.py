"""`neatai run`: evolve a network through real services in one command.

With no `--evolver`, an evaluator and an evolver start in this process on loopback (free ports)
and stop at the end; with `--evolver HOST:PORT` the same job runs on deployed services. The
dataset is uploaded to the evolver, a run is started and watched with a live progress bar, and
the results land in `--out`: `best.json` (NEAT-AI creature JSON), `progress.png` (best and mean
error per generation) and `network.png` (the winner). `--json` makes the last stdout line one
JSON object with the run's figures. The options come from `--config FILE` and flags
(`runconfig`). In process the evolver checkpoints under `--out`/state: Ctrl-C ends the
generation, writes the results so far and leaves the run for `--resume` (`job`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from neatai.costs import COST_NAMES
from neatai.security import SecurityError, add_security_arguments, client_security
from neatai.evolver.config import INITIAL_WEIGHTS, ConfigError, EvolverConfig
from neatai.tasks import CLASSIFICATION, TASKS, task_metrics

from . import job as job_file
from .client import PATIENCE_S, RPC_TIMEOUT, Interrupt, Watch, connect, rpc_failure, state_name
from .job import DISCOVERY, JOB, STATE, Data, JobError, JobFile
from .predict import label
from .prepare import Part, Prepared
from .progress import progress
from .runconfig import OptionsError, add_flags, resolve

INTERRUPTED = 130  # the shell's status for a command ended by SIGINT (143 for SIGTERM)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="neatai run",
        description="Evolve a neural network with NEAT through an evolver and evaluators "
                    "(started in process unless --evolver names deployed ones).")
    p.add_argument("--dataset", help="xor (default), a .csv, .parquet or .npz file, or a directory of NEAT-AI N.bin files")
    p.add_argument("--targets", help="CSV/Parquet: comma-separated target columns (default: the last)")
    p.add_argument("--inputs", type=int, help=".bin: inputs per record (checked against other formats)")
    p.add_argument("--outputs", type=int, help=".bin: outputs per record (checked against other formats)")
    p.add_argument("--test", help="a separate file (same format and columns) to score the best creature on")
    p.add_argument("--task", choices=TASKS, help="default: inferred (one-hot or one integer class column: "
                                                 "classification, else regression)")
    p.add_argument("--validation-fraction", type=float,
                   help="records held out to pick the best creature and report on (default 0.2)")
    p.add_argument("--seed", type=int, help="same seed, config and data give the same run (default: drawn, printed)")
    p.add_argument("--population", "--population-size", type=int, help="population size (default 50)")
    p.add_argument("--generations", "--iterations", type=int, help="maximum generations (default 1000)")
    p.add_argument("--target-error", type=float,
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
    p.add_argument("--feedback-loop", action=argparse.BooleanOptionalAction, help="recurrent state across records")
    add_flags(p)
    p.add_argument("--out", help="output directory (default runs/<timestamp>/); an in-process run checkpoints "
                                 "under DIR/state until it ends")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted in-process run whose --out was DIR, "
                                                   "to its stopping rule, with the same outputs")
    p.add_argument("--evolver", help="HOST:PORT of a deployed evolver (default: start services in process)")
    add_security_arguments(p, server=False)  # for --evolver
    p.add_argument("--patience", type=float, default=PATIENCE_S,
                   help=f"seconds to keep re-attaching to an evolver that went away (default {PATIENCE_S:g})")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="in-process evaluator threads")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last stdout line)")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.threads < 1:
            raise UsageError("--threads must be at least 1")
        if args.patience < 0:
            raise UsageError("--patience must be >= 0")
        try:
            args.security = client_security(args)
        except SecurityError as e:
            raise UsageError(str(e)) from None
        return _resume(args) if args.resume else _run(args)
    except (UsageError, OptionsError, JobError) as e:
        print(f"neatai run: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the run started: nothing to stop or keep
        print("neatai run: interrupted", file=sys.stderr)
        return INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    options = resolve(args)
    fraction = 0.2 if args.validation_fraction is None else args.validation_fraction
    if not 0 <= fraction < 1:
        raise UsageError(f"--validation-fraction must be in [0, 1), got {fraction}")
    config = options.config
    seed = config.seed if config.seed is not None else secrets.randbits(32)
    data = Data(args.dataset or "xor",
                [t.strip() for t in (args.targets or "").split(",") if t.strip()] or None,
                args.inputs, args.outputs, args.test, args.task, fraction, args.standardise)
    prepared, test_part = _prepare(data, seed, cost=options.chosen("costName", config.cost_name),
                                   output_squash=options.chosen("squashBudget.fixedOutputSquash",
                                                                config.fixed_output_squash),
                                   initial_weights=options.chosen("initialWeights", config.initial_weights))
    config = config.replace(cost_name=prepared.cost, initial_weights=prepared.initial_weights,
                            fixed_output_squash=prepared.output_squash, seed=seed)
    # What resume must redo exactly: the task and scaling as resolved, not as defaulted.
    data.task, data.standardise = prepared.task, prepared.input_scaling is not None
    out = _out_dir(args.out)
    say = sys.stderr if args.json else sys.stdout
    drawn = "" if options.config.seed is not None else f" (drawn; --seed {seed} repeats this run)"
    print(f"seed: {seed}{drawn}", file=say)
    for line in prepared.choices:
        print(line, file=say)
    job = Job(args, prepared, config, test_part, out, data)
    if args.evolver:
        return _drive(job, args.evolver)
    return _in_process(job, resume=False)


def _resume(args: argparse.Namespace) -> int:
    """Start the services on DIR/state: the evolver resumes the run from its last checkpoint."""
    changed = [f"--{k.replace('_', '-')}" for k, v in vars(args).items()
               if k not in ("resume", "json", "threads", "log_level", "patience", "security") and v is not None]
    if changed:
        raise UsageError(f"--resume continues the run as it was started; {', '.join(changed)} cannot change it")
    out = Path(args.resume)
    saved = job_file.load(out)
    if not (out / STATE / "runs" / saved.run_id).is_dir():
        raise UsageError(f"--resume {out}: run {saved.run_id} has ended (its checkpoints are gone); "
                         f"the results are in {out}")
    try:
        config = EvolverConfig.from_dict(saved.config)
    except ConfigError as e:
        raise UsageError(f"{out / job_file.JOB}: {e}") from None
    prepared, test_part = _prepare(saved.data, config.seed, cost=config.cost_name,
                                   output_squash=config.fixed_output_squash, initial_weights=config.initial_weights)
    _check_writable(out, f"--resume {out}")
    job = Job(args, prepared, config, test_part, out, saved.data, run_id=saved.run_id)
    return _in_process(job, resume=True)


def _prepare(data: Data, seed: int, **given) -> tuple[Prepared, Part | None]:
    """Load the dataset (and --test) and make the dataset's choices; the user's `given` ones win."""
    from neatai.datasets import DatasetError, load_path

    from .prepare import PrepareError, prepare

    def load(path: str):
        try:
            return load_path(path, targets=data.targets, inputs=data.inputs, outputs=data.outputs)
        except DatasetError as e:
            raise UsageError(str(e) if str(e).startswith(path) else f"dataset {path}: {e}") from None

    dataset = load(data.dataset)
    test = load(data.test) if data.test else None
    try:
        prepared = prepare(dataset, task=data.task, standardise=data.standardise,
                           validation_fraction=data.validation_fraction, seed=seed, **given)
        return prepared, prepared.encode(test, data.test) if test is not None else None
    except PrepareError as e:
        raise UsageError(str(e)) from None


def _in_process(job: Job, resume: bool) -> int:
    """An evaluator and an evolver on loopback, the evolver checkpointing under `out/state`:
    Ctrl-C (or a crash) leaves a run that `--resume` continues. The checkpoints go once it ended.
    A run with discovery also gets a discovery service, its caches under `out/discovery`."""
    from neatai.discovery.server import start as start_discovery
    from neatai.evaluator.server import start as start_evaluator
    from neatai.evolver.checkpoint import StateDirBusy
    from neatai.evolver.server import start as start_evolver
    from neatai.server import ServerConfig

    loopback = ServerConfig(host="127.0.0.1", port=0, grace_s=1)
    state = job.out / STATE
    evaluator = start_evaluator(embedded_evaluator_config(job.config, job.args.threads), loopback)
    discovery = None
    try:
        if job.config.discovery:
            discovery = start_discovery([evaluator.address], job.out / DISCOVERY, loopback,
                                        evaluator_threads=job.args.threads)
        try:
            evolver = start_evolver([evaluator.address], state, loopback, resume=resume,
                                    discovery=discovery.address if discovery else None)
        except StateDirBusy:
            raise UsageError(f"{state} is in use by another neatai process") from None
        try:
            status = _drive(job, evolver.address, pause=evolver.manager.close)
        finally:
            evolver.stop(1)
    finally:
        if discovery is not None:
            discovery.stop(1)
        evaluator.stop(1)
    if job.ended:
        shutil.rmtree(state, ignore_errors=True)
    return status


def embedded_evaluator_config(config: EvolverConfig, threads: int):
    """The in-process evaluator serves this one run, so its compiled-network cache is sized for
    the run as NEAT-AI sizes it (2 × population, 3 × for memetic runs), never below the
    evaluator's default."""
    from neatai.evaluator.network import run_network_cache_size
    from neatai.evaluator.service import EvaluatorConfig

    size = run_network_cache_size(config.population_size, config.memetic)
    return EvaluatorConfig(threads=threads, network_cache_size=max(EvaluatorConfig.network_cache_size, size))


@dataclass
class Job:
    """What one `neatai run` evolves on and where its results go."""

    args: argparse.Namespace
    prepared: Prepared
    config: EvolverConfig  # as sent: the dataset's choices and the seed filled in
    test: Part | None
    out: Path
    data: Data
    run_id: str = ""  # set once started (or resumed)
    ended: bool = False  # the run reached a final state (not interrupted)


def _drive(job: Job, address: str, pause: Callable[[], None] | None = None) -> int:
    """Upload and start (unless resuming), watch, write results; the exit status. `pause`
    (in process) ends the services' work at Ctrl-C with the run resumable, instead of stopping it."""
    import grpc

    from neatai.v1 import evolver_pb2 as S

    channel, stub = connect(address, None if pause is not None else job.args.security)  # in process: loopback
    started = time.monotonic()
    try:
        if not job.run_id:
            job.run_id = _start(job, channel, stub, address)
            if pause is not None:
                # Before the watching: a crash from here on leaves checkpoints that --resume finds.
                job_file.save(job.out, JobFile(job.run_id, job.config.to_dict(), job.data))
        else:
            _check_resumed(job, stub)
        reports = []
        stream = Watch(stub, job.run_id, patience_s=job.args.patience, prefix="neatai run")

        def end() -> None:  # Ctrl-C: in process the run stays resumable, on deployed services it stops
            try:
                if pause is not None:
                    stream.drain()  # the streams end with the services' work: no re-attaching
                    pause()
                else:
                    stub.StopRun(S.StopRunRequest(run_id=job.run_id), timeout=RPC_TIMEOUT)
            except grpc.RpcError as e:  # GetRun below reports how the run stands
                print(f"neatai run: stopping {job.run_id}: {rpc_failure(e, address)}", file=sys.stderr)
            finally:
                stream.cancel()

        try:
            with Interrupt(end) as interrupt:
                for message in progress(stream, job.config.iterations, job.config.timeout_seconds):
                    reports.append(message.report)
            interrupted = interrupt.fired
            run = stream.get_run()
        except (grpc.RpcError, TimeoutError) as e:
            print(f"neatai run: watching {job.run_id}: {rpc_failure(e, address)}", file=sys.stderr)
            return 1
    finally:
        channel.close()
    job.ended = run.state not in (S.RUN_STATE_RUNNING, S.RUN_STATE_PAUSED)
    wall = time.monotonic() - started
    if not run.HasField("best"):
        print(f"neatai run: run {job.run_id} ended {state_name(run.state)} without a scored creature: {run.message}",
              file=sys.stderr)
        return interrupt.status if interrupted else 1
    summary = _results(job, run, reports, wall)
    if not job.ended:
        summary["state"] = "interrupted"
    print(json.dumps(summary) if job.args.json else _describe(summary))
    if not job.ended:
        print(f"neatai run: interrupted at generation {run.latest.generation}; continue with: "
              f"neatai run --resume {job.out}", file=sys.stderr)
        return interrupt.status
    if run.state in (S.RUN_STATE_SOLVED, S.RUN_STATE_EXHAUSTED):
        return 0
    if run.message:
        print(f"neatai run: {run.message}", file=sys.stderr)
    return 1


def _check_resumed(job: Job, stub) -> None:
    """The evolver restored the run, and on the records this command prepared again."""
    import grpc

    from neatai.v1 import evolver_pb2 as S

    try:
        run = stub.GetRun(S.GetRunRequest(run_id=job.run_id), timeout=RPC_TIMEOUT).run
    except grpc.RpcError as e:
        raise UsageError(f"--resume {job.out}: run {job.run_id} could not be restored from {job.out / STATE} "
                         f"({e.code().name}; --log-level ERROR says why)") from None
    if run.dataset_id != job.prepared.dataset(job.prepared.train).id:
        raise UsageError(f"--resume {job.out}: {job.data.dataset} changed since run {job.run_id} started; "
                         "resuming needs the same records")
    print(f"resuming run {job.run_id} at generation {run.latest.generation} from {job.out}",
          file=sys.stderr if job.args.json else sys.stdout)


def _start(job: Job, channel, stub, address: str) -> str:
    """Upload the training (and validation) part and start the run; its id."""
    import grpc

    from neatai.datasets_servicer import upload_dataset
    from neatai.v1 import dataset_pb2_grpc
    from neatai.v1 import evolver_pb2 as S

    prepared = job.prepared
    request = S.StartRunRequest(config=job.config.to_proto(), task=S.TASK_CLASSIFICATION
                                if prepared.task == CLASSIFICATION else S.TASK_REGRESSION)
    datasets = dataset_pb2_grpc.DatasetServiceStub(channel)
    try:
        request.dataset_id = upload_dataset(datasets, prepared.dataset(prepared.train), timeout=RPC_TIMEOUT).dataset_id
        if prepared.validation is not None:
            request.validation_dataset_id = upload_dataset(datasets, prepared.dataset(prepared.validation),
                                                           timeout=RPC_TIMEOUT).dataset_id
        return stub.StartRun(request, timeout=RPC_TIMEOUT).run_id
    except grpc.RpcError as e:
        raise UsageError(rpc_failure(e, address)) from None


def _results(job: Job, run, reports, wall: float) -> dict:
    """Export the best creature with the scaling folded in, measure it on every part, write the files."""
    from neatai.creature import Creature
    from neatai.evaluator import compile_network
    from neatai.genome.scaling import unstandardised
    from neatai.v1 import evolver_pb2 as S

    prepared = job.prepared
    best = unstandardised(Creature.from_proto(run.best), prepared.input_scaling, prepared.target_scaling)
    feedback = job.config.feedback_loop
    label(best, prepared.feature_names, prepared.target_names, feedback)
    network = compile_network(best)
    summary = {
        "solved": run.state == S.RUN_STATE_SOLVED,
        "generations": run.latest.generation,
        "evaluations": run.latest.evaluations,
        "best_score": run.latest.best_score,
        "best_error": run.latest.best_error,
        "wall_seconds": round(wall, 3),
        "hidden_neurons": best.hidden_count,
        "synapses": len(best.synapses),
        "state": state_name(run.state),
        "run_id": run.run_id,
        "task": prepared.task,
        "cost": prepared.cost,
        "seed": job.config.seed,
        "held_out": prepared.validation is not None,
    }
    parts = {"train": prepared.train, "validation": prepared.validation, "test": job.test}
    for name, part in parts.items():
        if part is not None:
            figures = task_metrics(prepared.task, network.activate(part.X, feedback), part.Y)
            summary.update({f"{name}_{k}": v for k, v in figures.items()})
    if run.latest.HasField("validation_error"):
        summary["validation_error"] = run.latest.validation_error
    if job.config.discovery:
        summary["discoveries"] = sum(r.discovery_runs for r in reports)
        summary["discoveries_improved"] = sum(r.discovery_improved for r in reports)
    names = (prepared.feature_names, prepared.target_names)
    summary["out"] = str(_write_safely(job.out, best, reports, job.config.target_error, names).resolve())
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
        if (path / JOB).exists():
            raise UsageError(f"--out {given}: holds an earlier run ({JOB}); continue it with --resume {given} "
                             "or choose another --out")
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
