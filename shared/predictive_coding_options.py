"""The `predictiveCoding` training option (seed 004 §3.2, reference/neat-ai.md §5.1): its
names, defaults, what makes one unusable, and its `neatai.v1.PredictiveCodingOptions` form.
Part of the training options (training_options.py); shared by the evaluator, which trains with
it, and the evolver, which checks a run's options at StartRun."""
from __future__ import annotations

import math

from .v1 import evaluator_pb2

MODES = ("replace", "complement")
# The seed's design values; NEAT-AI shipped other ones (README "Predictive coding" says why these).
DEFAULTS = {
    "enabled": False,
    "maxInferenceIterations": 20,
    "convergenceThreshold": 1e-4,
    "inferenceRate": 0.1,
    "learningRate": 0.01,
    "integrationMode": "replace",
    "fixedPrediction": False,
}
_MSG = evaluator_pb2.PredictiveCodingOptions
FIELDS = {f.json_name: f for f in _MSG.DESCRIPTOR.fields}
_MODE_PREFIX = "INTEGRATION_MODE_"


def problems(value) -> list[tuple[str, str]]:
    """(name, message) for every unusable part of a predictiveCoding value (a dict or None)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [("predictiveCoding", f"expected an object, got {value!r}")]
    out = [(f"predictiveCoding.{k}", "unknown predictive coding option") for k in sorted(set(value) - set(DEFAULTS))]
    for name, v in value.items():
        path = f"predictiveCoding.{name}"
        if v is None or name not in DEFAULTS:
            continue
        if name in ("enabled", "fixedPrediction"):
            if not isinstance(v, bool):
                out.append((path, f"expected true or false, got {v!r}"))
        elif name == "integrationMode":
            if v not in MODES:
                out.append((path, f"must be one of {', '.join(MODES)}, got {v!r}"))
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append((path, f"expected a number, got {v!r}"))
        elif name == "maxInferenceIterations":
            if v < 1 or v != int(v) or v > 100_000:
                out.append((path, f"must be an integer in [1, 100000], got {v}"))
        elif name == "convergenceThreshold":
            if not (math.isfinite(v) and v >= 0):
                out.append((path, f"must be finite and >= 0, got {v}"))
        elif not (math.isfinite(v) and v > 0):
            out.append((path, f"must be finite and > 0, got {v}"))
    return out


def resolved(value) -> dict:
    """The option with its defaults filled in (a valid value or None)."""
    return {**DEFAULTS, **{k: v for k, v in (value or {}).items() if v is not None}}


def from_proto(msg) -> dict | None:
    """The settings a PredictiveCodingOptions message sets (None for an empty message)."""
    out = {}
    for name, f in FIELDS.items():
        v = getattr(msg, f.name)
        if name == "integrationMode":
            if v not in evaluator_pb2.IntegrationMode.values():
                out[name] = f"IntegrationMode value {v}"
            elif v:
                out[name] = evaluator_pb2.IntegrationMode.Name(v).removeprefix(_MODE_PREFIX).lower()
        elif msg.HasField(f.name) if f.has_presence else v:
            out[name] = v
    return out or None


def to_proto(value: dict):
    msg = _MSG()
    for name, v in value.items():
        if v is None:
            continue
        if name == "integrationMode":
            v = evaluator_pb2.IntegrationMode.Value(_MODE_PREFIX + v.upper())
        setattr(msg, FIELDS[name].name, v)
    return msg


def field_path(name: str) -> str:
    """The proto field path of "predictiveCoding.inferenceRate" ("predictive_coding.inference_rate")."""
    sub = name.partition(".")[2]
    return "predictive_coding" + (f".{FIELDS[sub].name}" if sub in FIELDS else f".{sub}" if sub else "")
