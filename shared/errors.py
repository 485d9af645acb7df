"""Precise gRPC errors: domain problems become INVALID_ARGUMENT with google.rpc.BadRequest
field violations (readable by clients in any language), never a stack trace."""
from __future__ import annotations

from typing import Iterable, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from .creature import Problem


def abort_invalid(context: grpc.ServicerContext, message: str, problems: Iterable[Problem], prefix: str = "") -> NoReturn:
    """Abort with INVALID_ARGUMENT; each problem becomes a field violation `prefix + path`."""
    problems = list(problems)
    bad = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=prefix + p.path, description=p.message) for p in problems
    ])
    detail = any_pb2.Any()
    detail.Pack(bad)
    summary = "; ".join(f"{prefix}{p}" for p in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=f"{message}: {summary}{more}", details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs of a BadRequest carried by a failed call (client side)."""
    status = rpc_status.from_call(error)
    out = []
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
