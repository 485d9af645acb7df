"""Server bootstrap every service shares: one gRPC server with the standard health and
reflection services, message and concurrency limits, connection ageing, a Prometheus port
(started and stopped with the server), a graceful SIGTERM drain (NOT_SERVING → finish in-flight
calls → exit 0), and the command-line flags every `neatai serve` shares.
"""
from __future__ import annotations

import argparse
import logging
import queue
import signal
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .creature import Limits
from .datasets import DatasetLimits
from .grpc_metrics import PrometheusServerInterceptor
from .metrics import start_metrics_http, stop_metrics_http
from .security import SecurityError, ServerSecurity, add_security_arguments, server_security
from .tracing import shutdown_tracing

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass
class ServerConfig:
    host: str = "[::]"
    port: int = 0  # 0 picks a free port
    metrics_port: int | None = None  # None: no metrics endpoint; 0 picks a free port
    max_workers: int = 16
    # Calls beyond this get RESOURCE_EXHAUSTED instead of queueing without bound.
    max_concurrent_rpcs: int = 64
    max_message_bytes: int = 64 * MiB
    # Clients reconnect (and re-resolve DNS) periodically so new replicas receive load.
    max_connection_age_s: float = 120.0
    max_connection_age_grace_s: float = 30.0
    # In-flight calls get this long to finish on SIGTERM.
    grace_s: float = 20.0
    # Every service counts its calls in grpc_server_* (go-grpc-prometheus names).
    interceptors: Sequence[grpc.ServerInterceptor] = field(default_factory=lambda: (PrometheusServerInterceptor(),))
    # TLS, mutual TLS and bearer tokens (none by default: loopback and tests).
    security: ServerSecurity = field(default_factory=ServerSecurity)
    # A plaintext port answering grpc.health.v1 only: kubelet gRPC probes speak no TLS.
    health_port: int | None = None

    def channel_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]


class DrainingHealthServicer(health.HealthServicer):
    """The standard health service, whose Watch streams can be ended: a watcher's stream is a
    call in flight that never finishes by itself, so left open it holds a drain for the whole
    grace period. Watchers see NOT_SERVING, then their stream ends (status OK)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._watches: set = set()
        self._watches_lock = threading.Lock()

    def Watch(self, request, context, send_response_callback=None):
        stream = None
        if send_response_callback is None:
            # The blocking form (server interceptors hide the non-blocking flag): the responses
            # are a generator that ends at the first None, as the library's own watcher does.
            responses: queue.SimpleQueue = queue.SimpleQueue()
            send_response_callback = responses.put
            stream = iter(responses.get, None)
        with self._watches_lock:
            self._watches.add(send_response_callback)
        context.add_callback(lambda: self._forget(send_response_callback))
        super().Watch(request, context, send_response_callback)
        return stream

    def _forget(self, send_response_callback) -> None:
        with self._watches_lock:
            self._watches.discard(send_response_callback)

    def end_watches(self) -> None:
        with self._watches_lock:
            watches, self._watches = self._watches, set()
        for send_response_callback in watches:
            send_response_callback(None)  # ends the stream (status OK)


@dataclass
class RunningServer:
    name: str
    server: grpc.Server
    health: DrainingHealthServicer
    port: int
    metrics_port: int | None
    config: ServerConfig
    health_server: grpc.Server | None = None  # the plaintext health port, when configured
    health_port: int | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float | None = None) -> threading.Event:
        """Report NOT_SERVING, refuse new calls, end health Watch streams, let the other calls in
        flight finish within `grace`, then close the metrics endpoint."""
        self.health.enter_graceful_shutdown()
        done = self.server.stop(self.config.grace_s if grace is None else grace)
        self.health.end_watches()
        done.wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        if self.metrics_port is not None:
            stop_metrics_http(self.metrics_port)
        self._stopped.set()
        return done

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)


def start_server(
    name: str,
    add_services: Callable[[grpc.Server], Iterable[str]],
    config: ServerConfig | None = None,
) -> RunningServer:
    """Start a server; `add_services` registers the servicers and returns their full names."""
    config = config or ServerConfig()
    options = config.channel_options() + [
        ("grpc.max_connection_age_ms", int(config.max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(config.max_connection_age_grace_s * 1000)),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix=f"{name}-rpc"),
        # Counted first, so refused calls show in grpc_server_handled_total too.
        interceptors=list(config.interceptors) + config.security.interceptors(),
        options=options,
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    names = list(add_services(server))
    health_servicer = DrainingHealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-health"),
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    taken = f"{name}: cannot listen on {config.host}:{config.port}"
    problem = _bind_problem(config.host, config.port)
    if problem:  # found before grpc, which would log its own multi-line error
        raise OSError(f"{taken}: {problem}")
    address = f"{config.host}:{config.port}"
    try:  # grpc answers a taken port with 0 or, in newer releases, RuntimeError("Failed to bind")
        port = server.add_secure_port(address, config.security.credentials()) if config.security.tls else \
            server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(taken)
    metrics_port = None
    if config.metrics_port is not None:
        try:
            metrics_port = start_metrics_http(config.metrics_port, **config.security.metrics_tls())
        except OSError as e:
            server.stop(0)
            raise OSError(f"{name}: cannot serve metrics on port {config.metrics_port}: {e.strerror or e}") from None
    health_server, health_port = None, None
    if config.health_port is not None:
        health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-probe"))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = health_server.add_insecure_port(f"{config.host}:{config.health_port}")
        if health_port == 0:
            server.stop(0)
            raise OSError(f"{name}: cannot listen for health probes on {config.host}:{config.health_port}")
        health_server.start()
    server.start()
    for service in ["", *names]:
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on port %d (metrics %s)", name, port, metrics_port)
    if health_port is not None:
        log.info("%s answers health probes in plaintext on port %d", name, health_port)
    return RunningServer(name, server, health_servicer, port, metrics_port, config, health_server, health_port)


def _bind_problem(host: str, port: int) -> str | None:
    """Why a listening socket on (host, port) cannot be had, or None (also for port 0)."""
    if port == 0:
        return None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does: TIME_WAIT is no obstacle
            probe.bind(address)
    except OSError as e:
        return e.strerror or str(e)
    return None


def serve_until_signal(running: RunningServer, on_stop: Callable[[], None] | None = None) -> int:
    """Block until SIGTERM/SIGINT, then drain gracefully and return exit status 0."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    log.info("%s draining (grace %.0fs)", running.name, running.config.grace_s)
    running.stop()
    if on_stop is not None:
        on_stop()
    shutdown_tracing()  # flush the spans of the drained calls
    return 0


# ---- command line ------------------------------------------------------------------------------


def add_server_arguments(p: argparse.ArgumentParser, port: int, metrics_port: int) -> None:
    """The flags of every `neatai serve`: listening address, ports, limits, drain, logging."""
    p.add_argument("--host", default="[::]", help="address to listen on (default: all interfaces)")
    p.add_argument("--port", type=int, default=port, help="gRPC port (0 picks a free one)")
    p.add_argument("--metrics-port", default=str(metrics_port),
                   help="Prometheus /metrics port; -1 or 'none' disables it")
    p.add_argument("--dataset-cache-mb", type=float, default=1024, help="bytes of registered datasets kept (LRU)")
    p.add_argument("--max-upload-mb", type=float, default=256, help="largest dataset upload accepted")
    p.add_argument("--max-message-mb", type=float, default=64, help="largest gRPC message accepted or sent")
    p.add_argument("--max-concurrent-rpcs", type=int, default=64, help="calls beyond this get RESOURCE_EXHAUSTED")
    p.add_argument("--max-records", type=int, default=DatasetLimits.max_records,
                   help="largest dataset accepted, in records (RESOURCE_EXHAUSTED beyond)")
    p.add_argument("--max-neurons", type=int, default=Limits.max_neurons, help="largest creature accepted, in neurons")
    p.add_argument("--max-synapses", type=int, default=Limits.max_synapses,
                   help="largest creature accepted, in synapses")
    p.add_argument("--max-creatures-per-request", type=int, default=Limits.max_creatures_per_request,
                   help="most creatures one request may carry")
    p.add_argument("--grace", type=float, default=20.0, help="seconds in-flight calls get on SIGTERM")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--health-port", type=int, help="also answer grpc.health.v1 in plaintext on this port "
                                                   "(kubelet probes speak no TLS)")
    add_security_arguments(p, server=True)


def parse_server_arguments(p: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; `metrics_port` becomes an int or None (disabled); bad values exit via `p.error`."""
    args = p.parse_args(argv)
    metrics_port = str(args.metrics_port).lower()
    try:
        args.metrics_port = None if metrics_port in ("-1", "none", "off", "") else int(metrics_port)
    except ValueError:
        p.error(f"--metrics-port must be a port number, -1 or none, got {args.metrics_port!r}")
    for flag, value in (("--port", args.port), ("--metrics-port", args.metrics_port),
                        ("--health-port", args.health_port)):
        if value is not None and not 0 <= value <= 65535:
            p.error(f"{flag} must be in 0-65535, got {value}")
    try:
        args.security = server_security(args)
    except SecurityError as e:
        p.error(str(e))
    for flag in ("max_concurrent_rpcs", "max_records", "max_neurons", "max_synapses", "max_creatures_per_request"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1")
    return args


def creature_limits_of(args: argparse.Namespace) -> Limits:
    """The creature size limits the shared flags set."""
    return Limits(max_neurons=args.max_neurons, max_synapses=args.max_synapses,
                  max_creatures_per_request=args.max_creatures_per_request)


def dataset_limits_of(args: argparse.Namespace) -> DatasetLimits:
    """The dataset upload limits the shared flags set."""
    return DatasetLimits(max_upload_bytes=int(args.max_upload_mb * MiB), max_records=args.max_records)


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig the shared flags describe; also configures logging at `--log-level`."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return ServerConfig(host=args.host, port=args.port, metrics_port=args.metrics_port,
                        max_concurrent_rpcs=args.max_concurrent_rpcs,
                        max_message_bytes=int(args.max_message_mb * MiB), grace_s=args.grace,
                        security=args.security, health_port=args.health_port)
