"""`neatai serve evaluator`: EvaluatorService + DatasetService with health, reflection, limits,
a Prometheus port and a graceful SIGTERM drain. `start()` runs one in-process (tests, `neatai run`)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from dataclasses import dataclass

from neatai.datasets import MiB, DatasetLimits
from neatai.security import SecurityError
from neatai.server import (
    RunningServer, ServerConfig, add_server_arguments, creature_limits_of, dataset_limits_of, parse_server_arguments,
    serve_until_signal, server_config, start_server,
)

from .recorder import default_recording_dir
from .service import Evaluator, EvaluatorConfig
from .servicer import add_to_server


@dataclass
class EvaluatorServer(RunningServer):
    """A running evaluator server; `stop()` also shuts the evaluator's pool and monitor down."""

    evaluator: Evaluator | None = None

    def stop(self, grace: float | None = None):
        done = super().stop(grace)
        if self.evaluator is not None:
            self.evaluator.close()
        return done


def start(config: EvaluatorConfig | None = None, server: ServerConfig | None = None,
          dataset_limits: DatasetLimits | None = None) -> EvaluatorServer:
    """Start an evaluator server (defaults: a free port on all interfaces, no metrics port)."""
    evaluator = Evaluator(config or EvaluatorConfig())
    server = server or ServerConfig()
    dataset_limits = dataset_limits or DatasetLimits()
    try:
        running = start_server("evaluator", lambda s: add_to_server(s, evaluator, dataset_limits), server)
    except BaseException:
        evaluator.close()
        raise
    fields = {f.name: getattr(running, f.name) for f in dataclasses.fields(RunningServer)}
    return EvaluatorServer(**fields, evaluator=evaluator)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="neatai serve evaluator",
                                description="Compile and score NEAT creatures over gRPC (EvaluatorService, DatasetService).")
    add_server_arguments(p, port=50051, metrics_port=9464)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="evaluation worker threads")
    p.add_argument("--max-memory-mb", type=float, default=0,
                   help="workerThreadCap: cap threads at this budget / per-worker estimate (0 = off)")
    p.add_argument("--estimated-memory-per-worker-mb", type=float, default=2048)
    p.add_argument("--memory-budget-mb", type=float, default=0,
                   help="memory monitor budget (0 = the container's limit, else total RAM)")
    p.add_argument("--memory-warning", type=float, default=0.70,
                   help="budget fraction at which caches are shrunk to half")
    p.add_argument("--memory-critical", type=float, default=0.85, help="budget fraction at which caches are cleared")
    p.add_argument("--memory-check-interval", type=float, default=1.0,
                   help="seconds between the memory monitor's checks (shorter: less overshoot under fast cache churn)")
    p.add_argument("--network-cache-size", type=int, default=512,
                   help="compiled networks kept (LRU); NEAT-AI sizes it 2 x population, 3 x for memetic runs")
    p.add_argument("--template-cache-size", type=int, default=100, help="topology templates kept (LRU)")
    p.add_argument("--recording-dir", default=default_recording_dir(),
                   help="where Record writes discovery recordings (env NEATAI_RECORDING_DIR)")
    args = parse_server_arguments(p, argv)
    if not 0 < args.memory_warning < args.memory_critical <= 1:
        p.error("need 0 < --memory-warning < --memory-critical <= 1")
    if not 0 < args.memory_check_interval <= 60:
        p.error("--memory-check-interval must be in (0, 60] seconds")
    for name in ("threads", "network_cache_size", "template_cache_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    server = server_config(args)
    config = EvaluatorConfig(
        threads=args.threads, max_memory_mb=args.max_memory_mb,
        estimated_memory_per_worker_mb=args.estimated_memory_per_worker_mb,
        network_cache_size=args.network_cache_size, template_cache_size=args.template_cache_size,
        dataset_store_bytes=int(args.dataset_cache_mb * MiB),
        memory_budget_bytes=int(args.memory_budget_mb * MiB) or None,
        memory_warning=args.memory_warning, memory_critical=args.memory_critical, limits=creature_limits_of(args),
        memory_check_interval_s=args.memory_check_interval,
        recording_dir=args.recording_dir,
    )
    try:
        running = start(config, server, dataset_limits_of(args))
    except (OSError, SecurityError) as e:  # port in use, unreadable TLS files
        print(f"neatai serve evaluator: {e}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("evaluator: %d worker threads, port %d, metrics %s",
                                     running.evaluator.threads, running.port, running.metrics_port)
    return serve_until_signal(running)
