"""OpenTelemetry tracing, configured only by the standard OTEL_* environment variables.

`init_tracing(name)` is called by each service's main() before it creates any server or channel
(the gRPC instrumentation patches `grpc.server` and `grpc.insecure_channel`, so objects created
earlier are not traced). It is a no-op unless an exporter is configured:

    OTEL_SDK_DISABLED=true                      off, whatever else is set
    OTEL_TRACES_EXPORTER=otlp|console|none      which exporter (otlp when only an endpoint is set)
    OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   OTLP over gRPC (port 4317)
    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG]   as the SDK defines them
    OTEL_PYTHON_GRPC_EXCLUDED_SERVICES          more services to leave untraced

Health checks and reflection are never traced (probes would drown the real traffic).
Library code only uses the API (`span(...)`, `carry_context(...)`): without init_tracing the
global provider is a no-op and spans cost next to nothing.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, Callable, Iterator, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

log = logging.getLogger(__name__)

T = TypeVar("T")
TRACER_NAME = "neatai"
UNTRACED_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

_lock = threading.Lock()
_provider: Any = None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _exporter_from_env() -> Any:
    """The span exporter the environment asks for, or None for no tracing."""
    if _truthy("OTEL_SDK_DISABLED"):
        return None
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if kind == "none" or (not kind and not endpoint):
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind not in ("", "otlp"):
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported (otlp, console, none); tracing off", kind)
        return None
    # The exporter reads the endpoint, headers, timeout and insecure flag from OTEL_EXPORTER_OTLP_*.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def init_tracing(service_name: str, exporter: Any = None) -> Any:
    """Install the SDK tracer provider and the gRPC instrumentation when the environment asks for
    it (or when `exporter` is given, which tests use with an in-memory exporter). Returns the
    provider, or None when tracing stays off. Idempotent within a process."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        if _truthy("OTEL_SDK_DISABLED"):
            return None
        batch = exporter is None
        exporter = exporter or _exporter_from_env()
        if exporter is None:
            return None
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"neatai-{service_name}"}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _instrument_grpc()
        _provider = provider
        log.info("tracing on for %s (%s)", service_name, type(exporter).__name__)
        return provider


def _instrument_grpc() -> None:
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

    # The instrumentors OR a `filter_` argument with their env-var filter, so passing one would
    # trace whatever either side allows; one exclusion list in the env var keeps both honoured.
    configured = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "")
    excluded = [s.strip() for s in configured.split(",") if s.strip()]
    os.environ["OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"] = ",".join(dict.fromkeys([*UNTRACED_SERVICES, *excluded]))
    GrpcInstrumentorServer().instrument()
    GrpcInstrumentorClient().instrument()


def shutdown_tracing() -> None:
    """Flush pending spans (call after the server has drained)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A child of the current span, e.g. span("generation", run_id=…) around one generation and
    span("evaluate") / span("speciate") / span("reproduce") / span("checkpoint") inside it."""
    with tracer().start_as_current_span(name, attributes={f"neatai.{k}": v for k, v in attributes.items()}) as s:
        yield s


def carry_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Bind `fn` to the caller's trace context, so work handed to a thread pool (the evolver's
    evaluator calls) stays in the caller's trace: `pool.submit(carry_context(call), batch)`."""
    ctx = otel_context.get_current()

    def bound(*args: Any, **kwargs: Any) -> T:
        token = otel_context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return bound
