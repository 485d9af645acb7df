"""A service's gRPC method handlers built from its descriptor, parsing requests themselves.

grpc's generated `add_*Servicer_to_server` lets grpc parse each request; bytes that are not the
request message then end the call with INTERNAL ("Exception deserializing request!") and a
server-side traceback. Parsed here, they answer INVALID_ARGUMENT naming the message. A method
listed in `raw_requests` receives the serialized request itself (bytes), for a hot path that
reads the wire form directly (Evaluate); a behaviour may also return serialized bytes.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _serialize(response: Any) -> bytes:
    return response if isinstance(response, bytes) else response.SerializeToString()


def _parse(request_type, data: bytes, context: grpc.ServicerContext):
    try:
        return request_type.FromString(data)
    except DecodeError as e:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"the request is not a valid {request_type.DESCRIPTOR.full_name} message ({e})")


def _parsing(behaviour: Callable, request_type, streaming: bool) -> Callable:
    if not streaming:
        def unary(data: bytes, context: grpc.ServicerContext):
            return behaviour(_parse(request_type, data, context), context)
        return unary

    def stream(chunks: Iterable[bytes], context: grpc.ServicerContext):
        def parsed() -> Iterator:
            for data in chunks:
                yield _parse(request_type, data, context)
        return behaviour(parsed(), context)
    return stream


def method_handlers(service, servicer: object, raw_requests: Iterable[str] = ()) -> dict[str, grpc.RpcMethodHandler]:
    """The handlers of `service` (a protobuf ServiceDescriptor) by method name, calling
    `servicer`'s methods of the same names."""
    raw = set(raw_requests)
    unknown = raw - {m.name for m in service.methods}
    if unknown:
        raise ValueError(f"{service.full_name} has no method {', '.join(sorted(unknown))}")
    handlers = {}
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        if method.name not in raw:
            behaviour = _parsing(behaviour, message_factory.GetMessageClass(method.input_type),
                                 method.client_streaming)
        kind = _KINDS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = kind(behaviour, request_deserializer=None, response_serializer=_serialize)
    return handlers


def method_path(service, name: str) -> str:
    """'/package.Service/Method', the path a client calls."""
    return f"/{service.full_name}/{service.methods_by_name[name].name}"


def add_services(server: grpc.Server, *services: tuple) -> list[str]:
    """Register each (ServiceDescriptor, servicer[, raw_requests]) on `server`, as grpc's
    generated code does (a generic handler and the registered-method fast path); returns the
    services' full names (for health and reflection)."""
    for service, *rest in services:
        handlers = method_handlers(service, *rest)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
        server.add_registered_method_handlers(service.full_name, handlers)
    return [s[0].full_name for s in services]
