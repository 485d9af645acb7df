"""The cost (error) functions by name, as the API defines them (`neatai.v1.CostFunction`):
`COST_FUNCTION_MSE` is "MSE", and the unspecified value means MSE."""
from __future__ import annotations

from .v1 import evaluator_pb2

_PREFIX = "COST_FUNCTION_"
DEFAULT_COST = "MSE"  # what COST_FUNCTION_UNSPECIFIED means
COST_NAMES: tuple[str, ...] = tuple(v.name.removeprefix(_PREFIX) for v in evaluator_pb2.CostFunction.DESCRIPTOR.values
                                    if v.number != evaluator_pb2.COST_FUNCTION_UNSPECIFIED)


def cost_number(name: str) -> int:
    """The `CostFunction` number of a cost name; ValueError when there is none."""
    if name not in COST_NAMES:
        raise ValueError(f"unknown cost {name!r}; expected one of {', '.join(COST_NAMES)}")
    return evaluator_pb2.CostFunction.Value(_PREFIX + name)


def cost_name(number: int) -> str | None:
    """The cost name of a `CostFunction` number (unspecified: MSE); None when unknown."""
    if number == evaluator_pb2.COST_FUNCTION_UNSPECIFIED:
        return DEFAULT_COST
    if number not in evaluator_pb2.CostFunction.values():
        return None
    return evaluator_pb2.CostFunction.Name(number).removeprefix(_PREFIX)
