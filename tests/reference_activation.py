"""A float64, loop-by-loop reference of NEAT-AI's forward pass and costs, written from
reference/neat-ai.md §2.1, §2.2 and §7.2 and sharing no code with the kernels.

It works on the creature model directly (uuids, not compiled indices), one record at a time.
The kernels' float32 quirks that change a value by more than rounding are mirrored here:
SOFTSIGN's ±0.99 limit, Softplus/Exponential/LogSigmoid/SELU caps, TAN's ±1000, and
StdInverse's |1/x| ≤ 1e10 (the f32 path; the f64 path's 1e-15 floor is not used).
"""
from __future__ import annotations

import math

from neatai.creature import Creature
from neatai.squash import BY_NAME

MAX_SAFE = 9007199254740991.0
TWO53 = 2.0 ** 53
LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772


def _sigmoid(x: float) -> float:
    if x < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def _softplus(x: float) -> float:
    return x if x > 700 else math.log1p(math.exp(x))


def squash(name: str, x: float) -> float:
    if name == "IDENTITY":
        return x
    if name == "ReLU":
        return max(0.0, x)
    if name == "ReLU6":
        return min(max(x, 0.0), 6.0)
    if name == "LeakyReLU":
        return x if x >= 0 else 0.01 * x
    if name == "SELU":
        x = min(x, 709.0)
        r = LAMBDA * (x if x > 0 else ALPHA * math.expm1(x))
        return r if math.isfinite(r) else -MAX_SAFE
    if name == "ELU":
        return x if x > 0 else math.expm1(x)
    if name in ("LOGISTIC", "SOFTMAX"):
        return _sigmoid(x)
    if name == "TANH":
        return math.tanh(x)
    if name == "HARD_TANH":
        return min(max(x, -1.0), 1.0)
    if name == "SOFTSIGN":
        return min(max(x / (1 + abs(x)), -0.99), 0.99)
    if name == "Softplus":
        return 100.0 if x >= 709 else _softplus(x)
    if name == "Swish":
        return x * _sigmoid(x)
    if name == "Mish":
        return x * math.tanh(_softplus(x))
    if name == "GELU":
        return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "SINE":
        return math.sin(x)
    if name == "Cosine":
        return math.cos(x)
    if name == "TAN":
        return min(max(math.tan(x), -1000.0), 1000.0)
    if name == "ArcTan":
        return math.atan(x)
    if name == "GAUSSIAN":
        return math.exp(-x * x)
    if name == "BENT_IDENTITY":
        return (math.sqrt(x * x + 1) - 1) / 2 + x
    if name == "BIPOLAR_SIGMOID":
        return 2 * _sigmoid(x) - 1
    if name == "BIPOLAR":
        return 1.0 if x > 0 else -1.0
    if name == "STEP":
        return 1.0 if x > 0 else 0.0
    if name == "COMPLEMENT":
        return 1 - x
    if name == "ABSOLUTE":
        return abs(x)
    if name == "SQUARE":
        return min(x * x, 1e6)
    if name == "Cube":
        return min(max(x ** 3, -1e6), 1e6)
    if name == "SQRT":
        return math.sqrt(x) if x >= 0 else 0.0
    if name == "StdInverse":
        if abs(x) < 1e-10:
            return -1e10 if x < 0 else 1e10
        return 1 / x
    if name == "Exponential":
        return TWO53 if x >= 36 else math.exp(x)
    if name == "LogSigmoid":
        if x <= -709:
            return -TWO53
        return x if x < -700 else -math.log1p(math.exp(-x))
    if name == "ISRU":
        return x / math.sqrt(1 + x * x)
    raise KeyError(name)


def limit(name: str, value: float) -> float:
    spec = BY_NAME[name]
    if math.isnan(value):
        value = 0.0
    return min(max(value, spec.lo), spec.hi)


def activate(creature: Creature, records, feedback_loop: bool = False, observe=None) -> list[list[float]]:
    """Outputs of every record (a list of input lists), evaluated in order. `observe(neuron,
    terms, inner)`, when given, sees every non-constant neuron of every record: its weighted
    inputs [(synapse, a * w)] and `inner` — the pre-activation (bias + sum) of a squash, the
    extreme term of MINIMUM/MAXIMUM, the condition sum of IF, the root of HYPOT/HYPOTv2 and
    the value of MEAN, before the range limit."""
    order = [f"input-{i}" for i in range(creature.input)] + [n.uuid for n in creature.neurons]
    position = {uuid: i for i, uuid in enumerate(order)}
    inward: dict[str, list] = {n.uuid: [] for n in creature.neurons}
    for s in creature.synapses:
        inward[s.to_uuid].append(s)
    state = {uuid: 0.0 for uuid in order}
    results = []
    for record in records:
        if not feedback_loop:
            state = {uuid: 0.0 for uuid in order}
        previous = dict(state)
        current: dict[str, float] = {}
        for i, x in enumerate(record):
            current[f"input-{i}"] = float(x)

        def read(s) -> float:
            # A synapse whose source comes at or after its target reads the previous record.
            if position[s.from_uuid] >= position[s.to_uuid]:
                return previous[s.from_uuid] * s.weight
            return current[s.from_uuid] * s.weight

        for n in creature.neurons:
            if n.type == "constant":
                current[n.uuid] = limit("IDENTITY", n.bias)
                continue
            terms = [(s, read(s)) for s in inward[n.uuid]]
            t = [v for _, v in terms]
            name = n.squash_name
            if name in ("MINIMUM", "MAXIMUM"):
                inner = (min(t) if name == "MINIMUM" else max(t)) if t else 0.0
                value = inner + n.bias
            elif name == "IF":
                inner = sum(v for s, v in terms if s.type == "condition")
                if inner > 0:
                    value = sum(v for s, v in terms if s.type in (None, "positive"))
                else:
                    value = sum(v for s, v in terms if s.type == "negative")
                value += n.bias
            elif name == "HYPOT":
                inner = math.sqrt(sum(v ** 2 for v in t))
                value = inner + n.bias
            elif name == "HYPOTv2":
                inner = value = math.sqrt(sum((n.bias + v) ** 2 for v in t))
            elif name == "MEAN":
                inner = value = (sum(t) / len(t) if t else 0.0) + n.bias
            else:
                inner = n.bias + sum(t)
                value = squash(name, inner)
            if observe is not None:
                observe(n, terms, inner)
            current[n.uuid] = limit(name, value)
        state = current
        results.append([current[n.uuid] for n in creature.neurons[-creature.output:]])
    return results


def record_cost(cost: str, target, output) -> float:
    n = len(target)
    pairs = list(zip(map(float, target), map(float, output)))
    if cost in ("MSE", "RMSE"):
        return sum((t - o) ** 2 for t, o in pairs) / n
    if cost == "MAE":
        return sum(abs(t - o) for t, o in pairs) / n
    if cost == "MAPE":
        return sum(abs((o - t) / max(t, 1e-15)) for t, o in pairs) / n
    if cost == "MSLE":
        return sum(math.log(max(t, 1e-15)) - math.log(max(o, 1e-15)) for t, o in pairs)
    if cost == "CROSS_ENTROPY":
        total = 0.0
        for t, o in pairs:
            o = min(max(o, 1e-15), 1 - 1e-15)
            total += t * math.log(o) + (1 - t) * math.log(1 - o)
        return -total / n
    if cost == "HINGE":
        return sum(max(0.0, 1 - t * o) for t, o in pairs)
    raise KeyError(cost)


def dataset_error(cost: str, targets, outputs) -> float:
    mean = sum(record_cost(cost, t, o) for t, o in zip(targets, outputs)) / len(targets)
    return math.sqrt(mean) if cost == "RMSE" else mean


# ---- random creatures for the comparisons ---------------------------------------------------

def random_creature(rng, n_in: int = 3, n_hidden: int = 12, n_out: int = 2, squash_names=None,
                    recurrent: bool = False, constants: int = 1) -> Creature:
    """A valid creature using the given squashes (every one by default, SOFTMAX on outputs only),
    IF neurons with all three roles, constants, and with `recurrent` self and back synapses."""
    from neatai.squash import SQUASHES

    names = squash_names or [s.name for s in SQUASHES if s.name != "SOFTMAX"]
    hidden = [f"h{k}" for k in range(n_hidden)]
    neurons = [{"type": "constant", "uuid": f"k{k}", "bias": float(rng.uniform(-1, 1))} for k in range(constants)]
    first = int(rng.integers(len(names)))  # rotate so that a few seeds cover every squash
    neurons += [{"type": "hidden", "uuid": u, "bias": float(rng.uniform(-0.5, 0.5)),
                 "squash": names[(first + k) % len(names)]} for k, u in enumerate(hidden)]
    out_names = ["SOFTMAX", "IDENTITY", "TANH", "IF", "MEAN"]
    neurons += [{"type": "output", "uuid": f"output-{k}", "bias": float(rng.uniform(-0.5, 0.5)),
                 "squash": out_names[k % len(out_names)] if squash_names is None else names[-1 - k % len(names)]}
                for k in range(n_out)]
    order = [f"input-{i}" for i in range(n_in)] + [n["uuid"] for n in neurons]
    squash_of = {n["uuid"]: n.get("squash") for n in neurons}
    synapses = []

    def add(src, dst, kind=None):
        synapses.append({"fromUUID": src, "toUUID": dst, "weight": float(rng.uniform(-1.5, 1.5)),
                         **({"type": kind} if kind else {})})

    for pos, dst in enumerate(order):
        if dst.startswith(("input-", "k")):
            continue
        earlier = order[:pos]
        want = int(rng.integers(3 if squash_of[dst] == "IF" else 1, 6))
        picks = rng.choice(len(earlier), size=min(len(earlier), want), replace=False)
        if squash_of[dst] == "IF":
            for kind, p in zip(("condition", "positive", "negative"), picks[:3]):
                add(earlier[p], dst, kind)
            for p in picks[3:]:
                add(earlier[p], dst)
        else:
            for p in picks:
                add(earlier[p], dst)
    if recurrent:
        for dst in hidden[::3] + ["output-0"]:
            add(dst, dst, "negative" if squash_of[dst] == "IF" else None)  # self synapse
        for k in range(1, n_hidden, 4):
            add(hidden[min(k + 3, n_hidden - 1)] if k + 3 < n_hidden else "output-0", hidden[k - 1],
                "positive" if squash_of[hidden[k - 1]] == "IF" else None)  # back synapse
    seen, unique = set(), []
    for s in synapses:
        key = (s["fromUUID"], s["toUUID"], s.get("type"))
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return Creature.from_json({"input": n_in, "output": n_out, "neurons": neurons, "synapses": unique,
                               "forwardOnly": not recurrent})
