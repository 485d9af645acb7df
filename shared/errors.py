"""Precise gRPC errors: domain problems become INVALID_ARGUMENT with google.rpc.BadRequest
field violations, requests over a configured limit RESOURCE_EXHAUSTED with a
google.rpc.QuotaFailure naming the limit (both readable by clients in any language), never a
stack trace."""
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


def abort_exhausted(context: grpc.ServicerContext, limit: str, message: str) -> NoReturn:
    """Abort with RESOURCE_EXHAUSTED: `limit` (the setting's name, e.g. `max_population_size`)
    is the QuotaFailure violation's subject, `message` says what crossed it and how to change it."""
    failure = error_details_pb2.QuotaFailure(violations=[
        error_details_pb2.QuotaFailure.Violation(subject=limit, description=message)])
    detail = any_pb2.Any()
    detail.Pack(failure)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def quota_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(limit, description) pairs of a QuotaFailure carried by a failed call (client side)."""
    status = rpc_status.from_call(error)
    out = []
    for detail in status.details if status else ():
        failure = error_details_pb2.QuotaFailure()
        if detail.Unpack(failure):
            out.extend((v.subject, v.description) for v in failure.violations)
    return out


def abort_too_large(context: grpc.ServicerContext, field: str, error) -> NoReturn:
    """A `creature.CreatureTooLarge` found at `field` (e.g. `creatures[3]`) as RESOURCE_EXHAUSTED."""
    crossed = [p for p in error.problems if p.path in ("neurons", "synapses")]
    abort_exhausted(context, error.limits[0], "; ".join(f"{field}.{p}" for p in crossed))
