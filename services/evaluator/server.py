"""`neatai serve evaluator`: EvaluatorService + DatasetService with health, reflection, limits,
a Prometheus port and a graceful SIGTERM drain. `start()` runs one in-process (tests, `neatai run`)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from dataclasses import dataclass

from neatai.datasets import MiB, DatasetLimits
from neatai.metrics import stop_metrics_http
from neatai.server import RunningServer, ServerConfig, serve_until_signal, start_server

from .service import Evaluator, EvaluatorConfig
from .servicer import add_to_server


@dataclass
class EvaluatorServer(RunningServer):
    """A running evaluator server; `stop()` also shuts the evaluator's pool and monitor down."""

    evaluator: Evaluator | None = None

    def stop(self, grace: float | None = None):
        done = super().stop(grace)
        if self.metrics_port is not None:
            stop_metrics_http(self.metrics_port)
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
    p.add_argument("--host", default="[::]", help="address to listen on (default: all interfaces)")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (0 picks a free one)")
    p.add_argument("--metrics-port", default="9464", help="Prometheus /metrics port; -1 or 'none' disables it")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="evaluation worker threads")
    p.add_argument("--max-memory-mb", type=float, default=0,
                   help="workerThreadCap: cap threads at this budget / per-worker estimate (0 = off)")
    p.add_argument("--estimated-memory-per-worker-mb", type=float, default=2048)
    p.add_argument("--memory-budget-mb", type=float, default=0,
                   help="memory monitor budget (0 = the container's limit, else total RAM)")
    p.add_argument("--memory-warning", type=float, default=0.70,
                   help="budget fraction at which caches are shrunk to half")
    p.add_argument("--memory-critical", type=float, default=0.85, help="budget fraction at which caches are cleared")
    p.add_argument("--network-cache-size", type=int, default=512, help="compiled networks kept (LRU)")
    p.add_argument("--template-cache-size", type=int, default=100, help="topology templates kept (LRU)")
    p.add_argument("--dataset-cache-mb", type=float, default=1024, help="bytes of registered datasets kept (LRU)")
    p.add_argument("--max-upload-mb", type=float, default=256, help="largest dataset upload accepted")
    p.add_argument("--max-message-mb", type=float, default=64, help="largest gRPC message accepted or sent")
    p.add_argument("--max-concurrent-rpcs", type=int, default=64, help="calls beyond this get RESOURCE_EXHAUSTED")
    p.add_argument("--grace", type=float, default=20.0, help="seconds in-flight calls get on SIGTERM")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    metrics = str(args.metrics_port).lower()
    args.metrics_port = None if metrics in ("-1", "none", "off", "") else int(metrics)
    if not 0 < args.memory_warning < args.memory_critical <= 1:
        p.error("need 0 < --memory-warning < --memory-critical <= 1")
    for name in ("threads", "network_cache_size", "template_cache_size", "max_concurrent_rpcs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = EvaluatorConfig(
        threads=args.threads, max_memory_mb=args.max_memory_mb,
        estimated_memory_per_worker_mb=args.estimated_memory_per_worker_mb,
        network_cache_size=args.network_cache_size, template_cache_size=args.template_cache_size,
        dataset_store_bytes=int(args.dataset_cache_mb * MiB),
        memory_budget_bytes=int(args.memory_budget_mb * MiB) or None,
        memory_warning=args.memory_warning, memory_critical=args.memory_critical,
    )
    server = ServerConfig(host=args.host, port=args.port, metrics_port=args.metrics_port,
                          max_concurrent_rpcs=args.max_concurrent_rpcs,
                          max_message_bytes=int(args.max_message_mb * MiB), grace_s=args.grace)
    running = start(config, server, DatasetLimits(max_upload_bytes=int(args.max_upload_mb * MiB)))
    logging.getLogger(__name__).info("evaluator: %d worker threads, port %d, metrics %s",
                                     running.evaluator.threads, running.port, running.metrics_port)
    return serve_until_signal(running)
