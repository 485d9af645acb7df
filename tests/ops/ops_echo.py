"""A tiny raw-bytes gRPC service with one method per call type, for testing interceptors
without the real services. A request of b"bad" aborts with INVALID_ARGUMENT, b"boom" raises,
b"slow" sleeps 0.3 s; the server stream sends one message per request byte."""
from __future__ import annotations

import time
from concurrent import futures

import grpc

SERVICE = "neatai.test.EchoService"


def _check(request: bytes, context: grpc.ServicerContext) -> None:
    if request == b"bad":
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    if request == b"boom":
        raise RuntimeError("boom")
    if request == b"slow":
        time.sleep(0.3)


def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    _check(request, context)
    return request


def client_stream(requests, context: grpc.ServicerContext) -> bytes:
    parts = list(requests)
    for part in parts:
        _check(part, context)
    return b"".join(parts)


def server_stream(request: bytes, context: grpc.ServicerContext):
    for i in range(len(request)):
        if i == 2:
            _check(request, context)
        yield request[i : i + 1]


def bidi_stream(requests, context: grpc.ServicerContext):
    for request in requests:
        _check(request, context)
        yield request


HANDLER = grpc.method_handlers_generic_handler(
    SERVICE,
    {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "BidiStream": grpc.stream_stream_rpc_method_handler(bidi_stream),
    },
)


def start(interceptors=()) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=list(interceptors))
    server.add_generic_rpc_handlers((HANDLER,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


class Stub:
    def __init__(self, channel: grpc.Channel):
        p = f"/{SERVICE}/"
        self.Unary = channel.unary_unary(p + "Unary")
        self.ClientStream = channel.stream_unary(p + "ClientStream")
        self.ServerStream = channel.unary_stream(p + "ServerStream")
        self.BidiStream = channel.stream_stream(p + "BidiStream")
