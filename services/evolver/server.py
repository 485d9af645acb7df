"""`neatai serve evolver`: EvolverService + DatasetService with health, reflection, limits, a
Prometheus port and a graceful SIGTERM drain. Runs checkpoint under `--state-dir`; an evolver
restarted on the same directory resumes its unfinished runs. `start()` runs one in-process
(tests, `neatai run`)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from neatai import metrics
from neatai.creature import Limits
from neatai.datasets import MiB, DatasetLimits, DatasetStore
from neatai.datasets_servicer import DatasetServicer
from neatai.discovery_client import DiscoveryClient
from neatai.evaluator_pool import EvaluatorError, EvaluatorPool, parse_targets
from neatai.security import outbound_security
from neatai.security import SecurityError
from neatai.server import (
    RunningServer, ServerConfig, add_server_arguments, creature_limits_of, dataset_limits_of, parse_server_arguments,
    serve_until_signal, server_config, start_server,
)

from .checkpoint import CheckpointStore
from .islands import Migrator
from .runs import EvaluationFailed, RunLimits, RunManager
from .servicer import add_to_server, cache_stats

log = logging.getLogger(__name__)


@dataclass
class EvolverServer(RunningServer):
    """A running evolver; `stop()` lets runs finish their generation (they resume on restart),
    `kill()` abandons them mid-generation as a crash would."""

    manager: RunManager | None = None
    pool: EvaluatorPool | None = None
    checkpoints: CheckpointStore | None = None
    registrations: tuple = ()
    discovery: DiscoveryClient | None = None

    def stop(self, grace: float | None = None):
        if self.manager is not None:  # runs end their generation and checkpoint; watchers see the end
            self.manager.close()
        done = super().stop(grace)
        self._release()
        return done

    def kill(self) -> None:
        if self.manager is not None:
            self.manager.halt()
        super().stop(0)
        self._release()

    def _release(self) -> None:
        for r in self.registrations:
            r.close()
        if self.pool is not None:
            self.pool.close()
        if self.discovery is not None:
            self.discovery.close()
        if self.checkpoints is not None:  # another evolver may take the state directory now
            self.checkpoints.close()


def start(evaluators, state_dir: str | Path | None = None, server: ServerConfig | None = None, *,
          rpc_timeout: float = 30.0, train_timeout: float = 600.0, dns_workers: int = 4,
          dataset_limits: DatasetLimits | None = None, dataset_store_bytes: int = 1024 * MiB,
          resume: bool = True, discovery: str | None = None, discovery_timeout: float = 900.0,
          retry_window_s: float = 300.0, probe_interval_s: float = 1.0, run_limits: RunLimits = RunLimits(),
          creature_limits: Limits = Limits(), tls_server_name: str | None = None,
          discovery_server_name: str | None = None, peer_server_name: str | None = None) -> EvolverServer:
    """Start an evolver that scores on `evaluators` (host:port list or one dns:/// target) and
    checkpoints under `state_dir` (None: no checkpoints). Unfinished runs found there resume.
    `train_timeout` is the deadline of each Train call of a memetic run (passes of gradient
    descent over a batch of creatures: minutes rather than Evaluate's seconds). `discovery`
    (host:port) is the discovery service runs with discoverySampleRate use, called with the same
    credentials as the evaluators (checking `discovery_server_name` when given); island peers are
    checked for `peer_server_name` (they are evolvers: their certificates are not the evaluators'). With no evaluator
    answering, runs pause for up to `retry_window_s`, then fail (resumable)."""
    server = server or ServerConfig()
    checkpoints = CheckpointStore(state_dir) if state_dir is not None else None
    outbound = outbound_security(server.security, tls_server_name)  # to the evaluators
    pool = EvaluatorPool(evaluators, rpc_timeout=rpc_timeout, train_timeout=train_timeout, dns_workers=dns_workers,
                         max_message_bytes=server.max_message_bytes, retry_window_s=retry_window_s,
                         probe_interval_s=probe_interval_s, security=outbound)
    datasets = DatasetStore(dataset_store_bytes)
    # Discovery and the island peers carry names of their own: tls_server_name is the evaluators'.
    client = DiscoveryClient(discovery, timeout=discovery_timeout, max_message_bytes=server.max_message_bytes,
                             security=dataclasses.replace(outbound, server_name=discovery_server_name)) \
        if discovery else None
    manager = RunManager(_evaluate_on(pool), datasets, checkpoints,
                         lambda peers, run_id, interval: Migrator(peers, run_id, interval, timeout=rpc_timeout,
                                                                  security=dataclasses.replace(
                                                                      outbound, server_name=peer_server_name)),
                         _evaluate_on(pool, "activate"), _evaluate_on(pool, "train"),
                         client.discover if client else None, evaluators=pool, limits=run_limits)
    pool.add_listener(manager.evaluators_changed)
    dataset_servicer = DatasetServicer(datasets, dataset_limits or DatasetLimits())
    # Runs resume before the server answers, so a client that sees it SERVING also sees its runs.
    resumed = manager.resume_all() if resume else []
    if resumed:
        log.info("resumed %d unfinished run(s): %s", len(resumed), ", ".join(resumed))
    try:
        running = start_server("evolver", lambda s: add_to_server(s, manager, pool, datasets, dataset_servicer,
                                                                         creature_limits), server)
    except BaseException:
        manager.close()
        pool.close()
        if client is not None:
            client.close()
        if checkpoints is not None:
            checkpoints.close()
        raise
    registrations = (metrics.register_pools(lambda: [pool.stats()]),
                     metrics.register_caches(lambda: cache_stats(manager, datasets)))
    _EVOLUTION.managers.add(manager)
    fields = {f.name: getattr(running, f.name) for f in dataclasses.fields(RunningServer)}
    return EvolverServer(**fields, manager=manager, pool=pool, checkpoints=checkpoints, registrations=registrations,
                         discovery=client)


def _evaluate_on(pool: EvaluatorPool, method: str = "evaluate"):
    """The runs' evaluate (or activate) step: the pool, its failures (gRPC statuses behind them) as
    EvaluationFailed. Looks the method up on every call (tests wrap it on a running server)."""

    def evaluate(*args, **kwargs):
        try:
            return getattr(pool, method)(*args, **kwargs)
        except EvaluatorError as e:
            raise EvaluationFailed(str(e)) from e

    return evaluate


# Ended runs keep their series (a dashboard shows how they finished) but only the most recent
# ones: every run is a label value, and an evolver's state directory collects runs for ever.
ENDED_RUNS_EXPORTED = 20


class _EvolutionCollector(Collector):
    """Per-run gauges of every evolver in this process (DESIGN §5 evolution gauges): every
    running run and the ENDED_RUNS_EXPORTED most recently started ended ones."""

    def __init__(self):
        self.managers: weakref.WeakSet[RunManager] = weakref.WeakSet()

    def collect(self):
        gen = GaugeMetricFamily("neatai_evolution_generation", "Generations completed by the run.", labels=["run"])
        score = GaugeMetricFamily("neatai_evolution_best_score", "Best score so far (higher is better).", labels=["run"])
        error = GaugeMetricFamily("neatai_evolution_best_error", "Error of the best creature so far.", labels=["run"])
        species = GaugeMetricFamily("neatai_evolution_species", "Species in the latest generation.", labels=["run"])
        evals = CounterMetricFamily("neatai_evolution_evaluations", "Creatures scored by the run.", labels=["run"])
        phase = GaugeMetricFamily("neatai_evolution_phase_seconds",
                                  "Time the latest generation spent in each phase.", labels=["run", "phase"])
        running = GaugeMetricFamily("neatai_evolution_runs", "Runs on this evolver by state.", labels=["state"])
        # Memetic runs only: the latest generation's fine-tuning (GenerationReport's figures).
        trained = GaugeMetricFamily("neatai_evolution_trained_creatures",
                                    "Creatures the latest generation sent to training.", labels=["run"])
        improved = GaugeMetricFamily("neatai_evolution_trained_improved_creatures",
                                     "Trained creatures of the latest generation that came out better.", labels=["run"])
        fraction = GaugeMetricFamily("neatai_evolution_fine_tune_fraction",
                                     "Share of the population the latest generation trained by.", labels=["run"])
        quantum = GaugeMetricFamily("neatai_evolution_quantum_adjusted_creatures",
                                    "quantumAdjust copies of the fittest that joined the next generation.",
                                    labels=["run"])
        states: dict[str, int] = {}
        for manager in list(self.managers):
            runs = manager.list()
            for run in runs:
                states[run.state.name.lower()] = states.get(run.state.name.lower(), 0) + 1
            ended = [run for run in runs if run.state.finished][-ENDED_RUNS_EXPORTED:]
            for run in [run for run in runs if not run.state.finished] + ended:
                r = run.latest
                if r is None:
                    continue
                gen.add_metric([run.id], r.generation)
                score.add_metric([run.id], r.best_score)
                error.add_metric([run.id], r.best_error)
                species.add_metric([run.id], r.species)
                evals.add_metric([run.id], r.evaluations)
                for name, seconds in sorted(r.phase_seconds.items()):
                    phase.add_metric([run.id, name], seconds)
                if run.config.memetic:
                    trained.add_metric([run.id], r.trained)
                    improved.add_metric([run.id], r.trained_improved)
                    fraction.add_metric([run.id], r.fine_tune_fraction)
                    quantum.add_metric([run.id], r.quantum_adjusted)
        for state, n in sorted(states.items()):
            running.add_metric([state], n)
        yield from (gen, score, error, species, evals, phase, running, trained, improved, fraction, quantum)


_EVOLUTION = _EvolutionCollector()
REGISTRY.register(_EVOLUTION)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="neatai serve evolver",
                                description="Evolve NEAT populations over gRPC (EvolverService, DatasetService), "
                                            "scoring on a pool of evaluators.")
    add_server_arguments(p, port=50052, metrics_port=9465)
    p.add_argument("--evaluators", default="127.0.0.1:50051",
                   help="evaluator endpoints: host:port[,host:port…] or one dns:///name:port (round_robin)")
    p.add_argument("--dns-workers", type=int, default=4,
                   help="concurrent batches on a dns:/// target (one channel, round_robin)")
    p.add_argument("--state-dir", default="./state", help="where runs checkpoint; restarts resume from here")
    p.add_argument("--rpc-timeout", type=float, default=30.0, help="deadline (s) of each Evaluate/ImportCreatures call")
    p.add_argument("--train-timeout", type=float, default=600.0,
                   help="deadline (s) of each Train call of a memetic run (a batch of creatures trained for "
                        "backpropagation.iterations passes)")
    p.add_argument("--discovery", default="", help="discovery service host:port for runs with discoverySampleRate "
                                                   "(none: such runs evolve without discovery)")
    p.add_argument("--discovery-timeout", type=float, default=900.0, help="deadline (s) of each Discover call")
    p.add_argument("--discovery-server-name", help="with --tls-ca: the name the discovery service's certificate "
                                                   "carries, when not the host of --discovery")
    p.add_argument("--tls-server-name", help="with --tls-ca: the name the evaluators' certificates carry, when "
                                             "not their host's (one name for every pod)")
    p.add_argument("--peer-server-name", help="with --tls-ca: the name the island peers' (evolvers') certificates "
                                              "carry, when not their host's")
    p.add_argument("--max-population", type=int, default=RunLimits.max_population_size,
                   help="largest populationSize a run may ask for (RESOURCE_EXHAUSTED beyond)")
    p.add_argument("--max-runs", type=int, default=RunLimits.max_active_runs,
                   help="runs going (running or paused) at once; more get RESOURCE_EXHAUSTED")
    p.add_argument("--retry-window", type=float, default=300.0,
                   help="seconds runs wait (paused) for an evaluator to answer before they fail (ResumeRun "
                        "continues them)")
    args = parse_server_arguments(p, argv)
    try:
        args.evaluators = parse_targets(args.evaluators)
    except ValueError as e:
        p.error(f"--evaluators: {e}")
    for flag in ("rpc_timeout", "train_timeout"):
        if getattr(args, flag) <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive")
    if args.max_population < 2 or args.max_runs < 1:
        p.error("--max-population must be >= 2 and --max-runs >= 1")
    if args.retry_window < 0:
        p.error("--retry-window must be >= 0")
    if args.dns_workers < 1:
        p.error("--dns-workers must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    server = server_config(args)
    try:
        running = start(args.evaluators, args.state_dir, server, rpc_timeout=args.rpc_timeout,
                        train_timeout=args.train_timeout,
                        dns_workers=args.dns_workers, retry_window_s=args.retry_window,
                        dataset_store_bytes=int(args.dataset_cache_mb * MiB), dataset_limits=dataset_limits_of(args),
                        run_limits=RunLimits(args.max_population, args.max_runs),
                        creature_limits=creature_limits_of(args), tls_server_name=args.tls_server_name,
                        discovery=args.discovery or None, discovery_timeout=args.discovery_timeout,
                        discovery_server_name=args.discovery_server_name, peer_server_name=args.peer_server_name)
    except (OSError, SecurityError) as e:  # unwritable or busy state dir, port in use, unreadable TLS files
        print(f"neatai serve evolver: {e}", file=sys.stderr)
        return 1
    log.info("evolver: port %d, metrics %s, evaluators %s, state %s", running.port, running.metrics_port,
             ", ".join(args.evaluators), args.state_dir)
    # serve_until_signal stops the server; EvolverServer.stop also lets runs end their generation.
    return serve_until_signal(running)
