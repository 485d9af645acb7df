"""The gRPC metrics interceptors count every call type and outcome under the go-grpc-prometheus
names, on both sides, and the exposition passes `promtool check metrics`."""
from __future__ import annotations

import subprocess
import time

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

import ops_echo
from neatai.grpc_metrics import (
    BUCKETS,
    GO_CODE_NAMES,
    GrpcMetrics,
    PrometheusClientInterceptor,
    PrometheusServerInterceptor,
    go_code,
)
from neatai.server import ServerConfig

SERVICE = ops_echo.SERVICE


@pytest.fixture
def env():
    registry = CollectorRegistry()
    metrics = GrpcMetrics(registry)
    server, port = ops_echo.start([PrometheusServerInterceptor(metrics)])
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), PrometheusClientInterceptor(metrics))
    yield registry, ops_echo.Stub(channel)
    channel.close()
    server.stop(0)


def value(registry, side, name, method, kind, code=None):
    labels = {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": kind}
    if code is not None:
        labels["grpc_code"] = code
    return registry.get_sample_value(f"grpc_{side}_{name}", labels) or 0.0


def eventually(predicate, timeout=5.0):
    """Client streams are counted by a done-callback on gRPC's thread, a moment after the
    consumer has seen the end of the stream."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "metric never reached the expected value"
        time.sleep(0.01)


def test_go_code_names_cover_every_status_code():
    assert set(GO_CODE_NAMES) == set(grpc.StatusCode)
    assert go_code(grpc.StatusCode.INVALID_ARGUMENT) == "InvalidArgument"
    assert go_code(grpc.StatusCode.CANCELLED) == "Canceled"  # Go's spelling
    assert go_code(grpc.StatusCode.OK) == "OK"


def test_buckets_span_milliseconds_to_minutes():
    assert BUCKETS[0] == 0.001 and BUCKETS[-1] == 600.0
    assert list(BUCKETS) == sorted(BUCKETS)


def test_shared_server_installs_the_server_interceptor_by_default():
    assert any(isinstance(i, PrometheusServerInterceptor) for i in ServerConfig().interceptors)


def test_unary_ok_and_aborted_and_raised(env):
    registry, stub = env
    assert stub.Unary(b"hi", timeout=5) == b"hi"
    with pytest.raises(grpc.RpcError) as bad:
        stub.Unary(b"bad", timeout=5)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as boom:
        stub.Unary(b"boom", timeout=5)
    assert boom.value.code() == grpc.StatusCode.UNKNOWN

    for side in ("server", "client"):
        assert value(registry, side, "started_total", "Unary", "unary") == 3
        assert value(registry, side, "handled_total", "Unary", "unary", "OK") == 1
        assert value(registry, side, "handled_total", "Unary", "unary", "InvalidArgument") == 1
        assert value(registry, side, "handled_total", "Unary", "unary", "Unknown") == 1
        assert value(registry, side, "handling_seconds_count", "Unary", "unary") == 3
    assert value(registry, "server", "msg_received_total", "Unary", "unary") == 3
    assert value(registry, "server", "msg_sent_total", "Unary", "unary") == 1
    assert value(registry, "client", "msg_sent_total", "Unary", "unary") == 3
    assert value(registry, "client", "msg_received_total", "Unary", "unary") == 1


def test_handling_time_lands_in_the_right_bucket(env):
    registry, stub = env
    stub.Unary(b"slow", timeout=5)
    labels = {"grpc_service": SERVICE, "grpc_method": "Unary", "grpc_type": "unary"}
    assert registry.get_sample_value("grpc_server_handling_seconds_bucket", {**labels, "le": "0.25"}) == 0
    assert registry.get_sample_value("grpc_server_handling_seconds_bucket", {**labels, "le": "0.5"}) == 1
    assert registry.get_sample_value("grpc_server_handling_seconds_sum", labels) >= 0.3


def test_future_calls_are_counted_when_they_finish(env):
    registry, stub = env
    future = stub.Unary.future(b"slow", timeout=5)
    assert value(registry, "client", "started_total", "Unary", "unary") == 1
    assert future.result() == b"slow"
    eventually(lambda: value(registry, "client", "handled_total", "Unary", "unary", "OK") == 1)


def test_client_stream(env):
    registry, stub = env
    assert stub.ClientStream(iter([b"a", b"b", b"c"]), timeout=5) == b"abc"
    with pytest.raises(grpc.RpcError):
        stub.ClientStream(iter([b"a", b"bad"]), timeout=5)
    for side in ("server", "client"):
        assert value(registry, side, "started_total", "ClientStream", "client_stream") == 2
        assert value(registry, side, "handled_total", "ClientStream", "client_stream", "OK") == 1
        assert value(registry, side, "handled_total", "ClientStream", "client_stream", "InvalidArgument") == 1
    assert value(registry, "server", "msg_received_total", "ClientStream", "client_stream") == 5
    assert value(registry, "server", "msg_sent_total", "ClientStream", "client_stream") == 1


def test_server_stream_counted_when_the_stream_ends(env):
    registry, stub = env
    assert list(stub.ServerStream(b"hello", timeout=5)) == [b"h", b"e", b"l", b"l", b"o"]
    with pytest.raises(grpc.RpcError) as bad:
        list(stub.ServerStream(b"bad", timeout=5))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    eventually(lambda: value(registry, "client", "handled_total", "ServerStream", "server_stream", "InvalidArgument") == 1)
    for side in ("server", "client"):
        assert value(registry, side, "handled_total", "ServerStream", "server_stream", "OK") == 1
        assert value(registry, side, "handled_total", "ServerStream", "server_stream", "InvalidArgument") == 1
    # "hello" sends 5, "bad" sends 2 before aborting.
    assert value(registry, "server", "msg_sent_total", "ServerStream", "server_stream") == 7
    assert value(registry, "client", "msg_received_total", "ServerStream", "server_stream") == 7


def test_cancelled_stream_is_counted_as_canceled(env):
    registry, stub = env
    stream = stub.ServerStream(b"x" * 10_000, timeout=5)
    next(stream)
    stream.cancel()
    eventually(lambda: value(registry, "server", "handled_total", "ServerStream", "server_stream", "Canceled") == 1)
    eventually(lambda: value(registry, "client", "handled_total", "ServerStream", "server_stream", "Canceled") == 1)


def test_bidi_stream(env):
    registry, stub = env
    assert list(stub.BidiStream(iter([b"a", b"b"]), timeout=5)) == [b"a", b"b"]
    eventually(lambda: value(registry, "client", "handled_total", "BidiStream", "bidi_stream", "OK") == 1)
    assert value(registry, "server", "handled_total", "BidiStream", "bidi_stream", "OK") == 1
    assert value(registry, "server", "msg_received_total", "BidiStream", "bidi_stream") == 2
    assert value(registry, "server", "msg_sent_total", "BidiStream", "bidi_stream") == 2
    assert value(registry, "client", "msg_sent_total", "BidiStream", "bidi_stream") == 2


def test_exposition_passes_promtool(env):
    registry, stub = env
    stub.Unary(b"hi", timeout=5)
    list(stub.ServerStream(b"ab", timeout=5))
    text = generate_latest(registry)
    assert b'grpc_type="unary"' in text and b'grpc_code="OK"' in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
