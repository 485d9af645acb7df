"""Prometheus metrics for gRPC calls, named as go-grpc-prometheus names them, so the community
dashboards and alert rules work unchanged:

    grpc_server_started_total{grpc_service,grpc_method,grpc_type}
    grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
    grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}   (histogram)
    grpc_server_msg_received_total / grpc_server_msg_sent_total{grpc_service,grpc_method,grpc_type}
    grpc_client_*   the same families, seen from the calling side

`grpc_type` is lower case: unary | client_stream | server_stream | bidi_stream.
`grpc_code` uses the Go code names (OK, Canceled, InvalidArgument, NotFound, ResourceExhausted, …,
see GO_CODE_NAMES), not the Python enum names: a dashboard written for Go services matches.
Calls ended with `context.abort()` are counted with the aborted code; streams are counted when they
end (exhausted, failed or cancelled). Calls the core refuses before any handler runs (unknown
method, over `maximum_concurrent_rpcs`) are not seen by an interceptor and so not counted.
The histogram has no `grpc_code` label (as in go-grpc-prometheus) to bound its series.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

# Evaluations and generations take from milliseconds (a cached creature) to minutes (a big batch).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}

_LABELS = ("grpc_service", "grpc_method", "grpc_type")


def go_code(code: grpc.StatusCode | None) -> str:
    return GO_CODE_NAMES.get(code, "Unknown") if code is not None else "OK"


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming and response_streaming:
        return "bidi_stream"
    if request_streaming:
        return "client_stream"
    if response_streaming:
        return "server_stream"
    return "unary"


def split_method(full_method: str) -> tuple[str, str]:
    """'/neatai.v1.EvaluatorService/Evaluate' → ('neatai.v1.EvaluatorService', 'Evaluate')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


class _Families:
    """One side's (server or client) metric families."""

    def __init__(self, side: str, registry: CollectorRegistry):
        p = f"grpc_{side}"
        self.started = Counter(f"{p}_started", f"RPCs started on the {side}.", _LABELS, registry=registry)
        self.handled = Counter(
            f"{p}_handled", f"RPCs completed on the {side}, by gRPC status code (Go names).",
            (*_LABELS, "grpc_code"), registry=registry,
        )
        self.seconds = Histogram(
            f"{p}_handling_seconds", f"Time from the start of an RPC to its end on the {side}.",
            _LABELS, buckets=BUCKETS, registry=registry,
        )
        self.received = Counter(f"{p}_msg_received", f"Stream messages received on the {side}.", _LABELS, registry=registry)
        self.sent = Counter(f"{p}_msg_sent", f"Stream messages sent on the {side}.", _LABELS, registry=registry)
        self._methods: dict[tuple[str, str, str], _MethodSeries] = {}
        self._lock = threading.Lock()

    def method(self, service: str, method: str, kind: str) -> _MethodSeries:
        """The labelled series of one method, resolved once: `.labels()` costs a locked dict
        lookup per call, which is most of the interceptor's overhead on a trivial RPC."""
        key = (service, method, kind)
        series = self._methods.get(key)
        if series is None:
            with self._lock:
                series = self._methods.setdefault(key, _MethodSeries(self, key))
        return series


class _MethodSeries:
    __slots__ = ("fam", "labels", "started", "received", "sent", "seconds", "handled")

    def __init__(self, fam: _Families, labels: tuple[str, str, str]):
        self.fam = fam
        self.labels = labels
        self.started = fam.started.labels(*labels)
        self.received = fam.received.labels(*labels)
        self.sent = fam.sent.labels(*labels)
        self.seconds = fam.seconds.labels(*labels)
        self.handled: dict[grpc.StatusCode | None, Any] = {}

    def handled_with(self, code: grpc.StatusCode | None):
        child = self.handled.get(code)
        if child is None:
            child = self.handled[code] = self.fam.handled.labels(*self.labels, go_code(code))
        return child


class GrpcMetrics:
    """Both sides' families in one registry (the default registry unless told otherwise)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.server = _Families("server", registry)
        self.client = _Families("client", registry)


_default: GrpcMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> GrpcMetrics:
    global _default
    with _default_lock:
        if _default is None:
            _default = GrpcMetrics()
        return _default


class _Call:
    """The bookkeeping of one call: started on creation, handled exactly once by finish()."""

    __slots__ = ("series", "t0", "done")

    def __init__(self, fam: _Families, service: str, method: str, kind: str):
        self.series = fam.method(service, method, kind)
        self.t0 = time.perf_counter()
        self.done = False
        self.series.started.inc()

    def received(self) -> None:
        self.series.received.inc()

    def sent(self) -> None:
        self.series.sent.inc()

    def finish(self, code: grpc.StatusCode | None) -> None:
        if self.done:
            return
        self.done = True
        self.series.handled_with(code).inc()
        self.series.seconds.observe(time.perf_counter() - self.t0)


# ---------------------------------------------------------------------------------------------
# Server side


def _server_code(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    if failed:
        # abort() records its code on the context; any other exception becomes UNKNOWN.
        code = context.code()
        return code if code not in (None, grpc.StatusCode.OK) else grpc.StatusCode.UNKNOWN
    if not context.is_active():
        remaining = context.time_remaining()
        return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED
    return context.code() or grpc.StatusCode.OK


class PrometheusServerInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: GrpcMetrics | None = None):
        self._fam = (metrics or default_metrics()).server
        # method → (handler, its counting wrapper): the core asks for a handler on every call.
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        cached = self._wrapped.get(handler_call_details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler_call_details.method, handler)
        self._wrapped[handler_call_details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, full_method: str, handler):
        service, method = split_method(full_method)
        kind = grpc_type(handler.request_streaming, handler.response_streaming)
        fam = self._fam

        def counted_requests(requests: Iterator, call: _Call) -> Iterator:
            for request in requests:
                call.received()
                yield request

        def wrap_unary_response(behavior: Callable) -> Callable:
            def wrapped(request_or_iterator: Any, context: grpc.ServicerContext):
                call = _Call(fam, service, method, kind)
                if handler.request_streaming:
                    request_or_iterator = counted_requests(request_or_iterator, call)
                else:
                    call.received()
                try:
                    response = behavior(request_or_iterator, context)
                except BaseException:
                    call.finish(_server_code(context, failed=True))
                    raise
                call.sent()
                call.finish(_server_code(context, failed=False))
                return response

            return wrapped

        def wrap_stream_response(behavior: Callable) -> Callable:
            def wrapped(request_or_iterator: Any, context: grpc.ServicerContext):
                call = _Call(fam, service, method, kind)
                if handler.request_streaming:
                    request_or_iterator = counted_requests(request_or_iterator, call)
                else:
                    call.received()
                failed = False
                try:
                    for response in behavior(request_or_iterator, context):
                        call.sent()
                        yield response
                except GeneratorExit:
                    # The core stopped pulling: the client went away or the deadline passed.
                    raise
                except BaseException:
                    failed = True
                    raise
                finally:
                    call.finish(_server_code(context, failed))

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary_response(handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary_response(handler.stream_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream_response(handler.unary_stream), handler.request_deserializer, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream_response(handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )


# ---------------------------------------------------------------------------------------------
# Client side


class _CountedStream:
    """A response-stream call that counts the messages its consumer pulls; everything else
    (cancel, code, metadata, …) goes to the underlying call."""

    def __init__(self, inner: Any, call: _Call):
        self._inner = inner
        self._call = call

    def __iter__(self):
        return self

    def __next__(self):
        response = next(self._inner)
        self._call.received()
        return response

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _finish_on_done(outcome: Any, call: _Call, unary_response: bool = False) -> None:
    """Count the call as handled when it terminates (at once for a blocking call that already
    returned, later for a future or a stream)."""

    def done(result: Any) -> None:
        try:
            code = result.code()
        except Exception:  # an outcome that cannot say: count it as failed, never break the call
            code = grpc.StatusCode.UNKNOWN
        if unary_response and code == grpc.StatusCode.OK:
            call.received()
        call.finish(code)

    outcome.add_done_callback(done)


class PrometheusClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, metrics: GrpcMetrics | None = None):
        self._fam = (metrics or default_metrics()).client

    def _start(self, details: grpc.ClientCallDetails, kind: str) -> _Call:
        service, method = split_method(details.method)
        return _Call(self._fam, service, method, kind)

    @staticmethod
    def _counted_requests(requests: Iterator, call: _Call) -> Iterator:
        for request in requests:
            call.sent()
            yield request

    def intercept_unary_unary(self, continuation, client_call_details, request):
        call = self._start(client_call_details, "unary")
        call.sent()
        outcome = continuation(client_call_details, request)
        _finish_on_done(outcome, call, unary_response=True)
        return outcome

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        call = self._start(client_call_details, "client_stream")
        outcome = continuation(client_call_details, self._counted_requests(request_iterator, call))
        _finish_on_done(outcome, call, unary_response=True)
        return outcome

    def intercept_unary_stream(self, continuation, client_call_details, request):
        call = self._start(client_call_details, "server_stream")
        call.sent()
        stream = continuation(client_call_details, request)
        _finish_on_done(stream, call)
        return _CountedStream(stream, call)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        call = self._start(client_call_details, "bidi_stream")
        stream = continuation(client_call_details, self._counted_requests(request_iterator, call))
        _finish_on_done(stream, call)
        return _CountedStream(stream, call)


def instrumented_channel(target: str, options: list[tuple[str, Any]] | None = None,
                         credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """A channel (TLS with `credentials`, else insecure) whose calls are counted in
    grpc_client_*. It is created through `grpc.insecure_channel`/`grpc.secure_channel` looked up
    at call time, so OpenTelemetry's client instrumentation (which patches them) applies as well
    when tracing is on."""
    channel = grpc.secure_channel(target, credentials, options=options) if credentials is not None else \
        grpc.insecure_channel(target, options=options)
    return grpc.intercept_channel(channel, PrometheusClientInterceptor())
