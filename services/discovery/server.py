"""`neatai serve discovery`: DiscoveryService + DatasetService with health, reflection, limits,
a Prometheus port and a graceful SIGTERM drain (shared/server.py). `start()` runs one
in-process (tests, `neatai run --discovery`). Caches live under `--cache-dir` (a volume several
replicas may share)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
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
from neatai.evaluator_pool import EvaluatorPool, parse_targets
from neatai.security import SecurityError, outbound_security
from neatai.server import (
    RunningServer, ServerConfig, add_server_arguments, creature_limits_of, dataset_limits_of, parse_server_arguments,
    serve_until_signal, server_config, start_server,
)

from .caches import CacheLimits
from .pipeline import Cancelled
from .service import DEFAULT_MAX_RECORDING_VALUES, Analyse, DiscoveryConfig, DiscoveryService
from .servicer import add_to_server

log = logging.getLogger(__name__)


@dataclass
class DiscoveryServer(RunningServer):
    """A running discovery server; `stop()` also closes its evaluator pool and metrics sources."""

    service: DiscoveryService | None = None
    registrations: tuple = ()

    def stop(self, grace: float | None = None):
        done = super().stop(grace)
        for r in self.registrations:
            r.close()
        if self.service is not None:
            self.service.close()
        return done


def engine_analyse() -> tuple[Analyse, str]:
    """The analysis engine (neatai.discovery.analysis) and the backend it chose at start
    (NEATAI_DISCOVERY_DEVICE; small analyses may still run on NumPy, as each result says)."""
    from .analysis import AnalysisCancelled, AnalysisOptions, analyse
    from .backend import select_backend

    def run(path, creature, options, cancelled):
        try:
            return analyse(path, creature, AnalysisOptions(
                focus_uuids=options.focus_neurons, random_seed=options.seed, cost_of_growth=options.cost_of_growth,
                timeout_s=options.analysis_timeout_s, cancel=cancelled, max_outgoing_weight=options.max_outgoing_weight,
                failure_cache=options.failure_cache))
        except AnalysisCancelled as e:
            raise Cancelled(f"analysis cancelled: {e}") from None

    return run, select_backend().name


def start(evaluators, cache_dir: str | Path, server: ServerConfig | None = None, *, analyse: Analyse | None = None,
          backend: str | None = None, evaluator_threads: int = 4, max_concurrent: int = 2, rpc_timeout: float = 60.0,
          dataset_store_bytes: int = 1024 * MiB, dataset_limits: DatasetLimits | None = None,
          cache_limits: CacheLimits | None = None, recorder: str | None = None,
          creature_limits: Limits = Limits(), max_recording_values: int = DEFAULT_MAX_RECORDING_VALUES,
          tls_server_name: str | None = None) -> DiscoveryServer:
    """Start a discovery server that scores on `evaluators` (host:port list or one dns:///
    target) and records on `recorder` (an evaluator sharing this machine's disk; default the
    first of `evaluators`); `analyse` defaults to the engine. With mutual TLS it calls both as
    the evolver calls its evaluators (`outbound_security`, checking `tls_server_name`)."""
    server = server or ServerConfig()
    if analyse is None:
        analyse, chosen = engine_analyse()
        backend = backend or chosen
    outbound = outbound_security(server.security, tls_server_name)
    pool = EvaluatorPool(evaluators, rpc_timeout=rpc_timeout, max_message_bytes=server.max_message_bytes,
                         name="discovery-evaluators", security=outbound)
    recording = EvaluatorPool(recorder, rpc_timeout=rpc_timeout, max_message_bytes=server.max_message_bytes,
                              name="discovery-recorder", security=outbound) if recorder else None
    service = DiscoveryService(pool, DatasetStore(dataset_store_bytes), analyse, DiscoveryConfig(
        cache_dir, evaluator_threads=evaluator_threads, max_concurrent=max_concurrent,
        cache_limits=cache_limits or CacheLimits(), backend=backend or "numpy",
        max_recording_values=max_recording_values), recording)
    try:
        running = start_server("discovery", lambda s: add_to_server(s, service, dataset_limits or DatasetLimits(),
                                                                    creature_limits), server)
    except BaseException:
        service.close()
        raise
    registrations = (metrics.register_pools(lambda: [pool.stats()]),
                     metrics.register_caches(lambda: [service.datasets.stats()]))
    _DISCOVERY.services.add(service)
    fields = {f.name: getattr(running, f.name) for f in dataclasses.fields(RunningServer)}
    return DiscoveryServer(**fields, service=service, registrations=registrations)


class _DiscoveryCollector(Collector):
    """Discovery metrics of every discovery service in this process, summed: runs by outcome,
    candidates per change type, stage time, cache entries, the analysis backend."""

    def __init__(self):
        self.services: weakref.WeakSet[DiscoveryService] = weakref.WeakSet()

    def collect(self):
        runs = CounterMetricFamily("neatai_discovery_runs", "Discover calls by outcome.", labels=["outcome"])
        in_flight = GaugeMetricFamily("neatai_discovery_runs_in_flight", "Discover calls running now.")
        per_type = {name: CounterMetricFamily(f"neatai_discovery_candidates_{name}", text, labels=["change_type"])
                    for name, text in (("evaluated", "Candidates scored, per change type."),
                                       ("improved", "Scored candidates that beat the original."),
                                       ("repaired", "Candidates that needed the repair (a builder bug)."),
                                       ("skipped_cached", "Candidates skipped as known failures."))}
        stage = CounterMetricFamily("neatai_discovery_stage_seconds", "Time spent per stage, all runs.", labels=["stage"])
        entries = GaugeMetricFamily("neatai_discovery_cache_entries", "Entries in the discovery caches.",
                                    labels=["cache", "change_type"])
        backend = GaugeMetricFamily("neatai_discovery_backend", "The analysis backend (1 for the one in use).",
                                    labels=["backend"])
        sums: dict = {"runs": {}, "types": {}, "stage": {}, "entries": {}, "backend": {}}
        flight = 0
        for service in list(self.services):
            t = service.snapshot()
            flight += t.in_flight
            for k, v in t.runs.items():
                sums["runs"][k] = sums["runs"].get(k, 0) + v
            for change_type, d in t.by_type.items():
                for name in per_type:
                    key = (name, change_type)
                    sums["types"][key] = sums["types"].get(key, 0) + getattr(d, name)
            for k, v in t.stage_seconds.items():
                sums["stage"][k] = sums["stage"].get(k, 0.0) + v
            try:
                counts = service.caches.counts()
            except OSError:  # the volume went away: the other series still report
                counts = {}
            for cache, types in counts.items():
                for change_type, n in types.items():
                    # Replicas sharing a volume see the same entries: the largest count, not the sum.
                    key = (cache, change_type)
                    sums["entries"][key] = max(sums["entries"].get(key, 0), n)
            sums["backend"][service.config.backend] = 1
        for k, v in sorted(sums["runs"].items()):
            runs.add_metric([k], v)
        in_flight.add_metric([], flight)
        for (name, change_type), v in sorted(sums["types"].items()):
            per_type[name].add_metric([change_type], v)
        for k, v in sorted(sums["stage"].items()):
            stage.add_metric([k], v)
        for (cache, change_type), v in sorted(sums["entries"].items()):
            entries.add_metric([cache, change_type], v)
        for k, v in sums["backend"].items():
            backend.add_metric([k], v)
        yield from (runs, in_flight, *per_type.values(), stage, entries, backend)


_DISCOVERY = _DiscoveryCollector()
REGISTRY.register(_DISCOVERY)


def default_cache_dir() -> str:
    return os.environ.get("NEATAI_DISCOVERY_CACHE_DIR", "./discovery-cache")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="neatai serve discovery",
                                description="Propose and score structural improvements of NEAT creatures over gRPC "
                                            "(DiscoveryService, DatasetService), recording and scoring on evaluators.")
    add_server_arguments(p, port=50053, metrics_port=9466)
    p.add_argument("--evaluators", default="127.0.0.1:50051",
                   help="evaluator endpoints: host:port[,host:port…] or one dns:///name:port (round_robin)")
    p.add_argument("--recorder", default="",
                   help="the evaluator that records (host:port): it must write where this service reads, e.g. a "
                        "sidecar sharing the recordings volume (default: the first of --evaluators)")
    p.add_argument("--cache-dir", default=default_cache_dir(),
                   help="success/failure caches and diagnostics.json (env NEATAI_DISCOVERY_CACHE_DIR); "
                        "replicas may share it")
    p.add_argument("--evaluator-threads", type=int, default=4,
                   help="evaluation threads of all evaluators together: slots = max(2 x threads, categories)")
    p.add_argument("--max-concurrent", type=int, default=2, help="Discover calls at once; more get RESOURCE_EXHAUSTED")
    p.add_argument("--rpc-timeout", type=float, default=60.0, help="deadline (s) of each Evaluate call")
    p.add_argument("--max-recording-values", type=int, default=DEFAULT_MAX_RECORDING_VALUES,
                   help="largest recording (and analysis) accepted, in observations x neurons, inputs included "
                        "(RESOURCE_EXHAUSTED beyond)")
    p.add_argument("--tls-server-name", help="with --tls-ca: the name the evaluators' and the recorder's "
                                             "certificates carry, when not their host's (one name for every pod)")
    args = parse_server_arguments(p, argv)
    try:
        args.evaluators = parse_targets(args.evaluators)
        if args.recorder:
            parse_targets(args.recorder)
    except ValueError as e:
        p.error(f"--evaluators/--recorder: {e}")
    for name in ("evaluator_threads", "max_concurrent", "max_recording_values"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.rpc_timeout <= 0:
        p.error("--rpc-timeout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    server = server_config(args)
    try:
        running = start(args.evaluators, args.cache_dir, server, evaluator_threads=args.evaluator_threads,
                        max_concurrent=args.max_concurrent, rpc_timeout=args.rpc_timeout,
                        recorder=args.recorder or None,
                        dataset_store_bytes=int(args.dataset_cache_mb * MiB), dataset_limits=dataset_limits_of(args),
                        creature_limits=creature_limits_of(args), max_recording_values=args.max_recording_values,
                        tls_server_name=args.tls_server_name)
    except (OSError, SecurityError) as e:  # port in use, unwritable cache directory, unreadable TLS files
        print(f"neatai serve discovery: {e}", file=sys.stderr)
        return 1
    log.info("discovery: port %d, metrics %s, evaluators %s, caches %s, backend %s", running.port,
             running.metrics_port, ", ".join(args.evaluators), args.cache_dir, running.service.config.backend)
    return serve_until_signal(running)
