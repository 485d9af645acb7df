"""The creature model: NEAT-AI creature JSON in and out, protobuf in and out, validation, hashes.

A creature has `input` implicit input neurons (`input-0` … `input-(n-1)`), then `neurons`: the
hidden, constant and output neurons in evaluation order with the outputs last (`output-0` …).
The activation buffer index of a neuron is therefore `input + position` (`uuid_index`).

Loading follows NEAT-AI (reference/neat-ai.md §1.2): output neurons are renamed by position,
legacy squash aliases are rewritten, legacy `nodes`/`connections` keys are accepted, neurons
out of dependency order are re-sorted, and a creature whose synapses form a self loop or a
cycle is recurrent unless it declares `forwardOnly: true`, which is then an error. Every
problem found is reported with its location; nothing is reported by stack trace.
"""
from __future__ import annotations

import copy
import hashlib
import heapq
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import squash as squashes
from .v1 import creature_pb2 as _pb

CURRENT_SEMANTIC_VERSION = "4.0.0"


def _json_names(enum, prefix: str) -> dict[str, int]:
    """NEAT-AI JSON name (`NEURON_TYPE_HIDDEN` → "hidden") → number of every specified value."""
    return {v.name.removeprefix(prefix).lower(): v.number for v in enum.DESCRIPTOR.values if v.number}


# The proto enums (neatai.v1.NeuronType / SynapseType) define the types and their numbers; a
# synapse's number is also its type's place in the synapse order (`synapse_order`) and hashes.
PB_NEURON_TYPE = _json_names(_pb.NeuronType, "NEURON_TYPE_")
_NEURON_NAME = {v: k for k, v in PB_NEURON_TYPE.items()}
PB_SYNAPSE_TYPE = {None: 0, **_json_names(_pb.SynapseType, "SYNAPSE_TYPE_")}
_SYNAPSE_NAME = {v: k for k, v in PB_SYNAPSE_TYPE.items() if k}
NEURON_TYPES = tuple(PB_NEURON_TYPE)  # ("hidden", "output", "constant")
SYNAPSE_TYPES = tuple(_SYNAPSE_NAME.values())  # ("positive", "negative", "condition")
# The inputs an IF neuron needs, in the order a missing role is reported and filled.
IF_ROLES = ("condition", "positive", "negative")


def synapse_order(index: dict[str, int]):
    """The sort key of the canonical synapse order: (source index, target index, type number),
    with `index` from `Creature.uuid_index()`."""
    return lambda s: (index[s.from_uuid], index[s.to_uuid], PB_SYNAPSE_TYPE[s.type])


@dataclass(frozen=True)
class Limits:
    """Size limits enforced on every creature that crosses a boundary."""

    max_inputs: int = 1_000_000
    max_outputs: int = 1_000_000
    max_neurons: int = 65_536
    max_synapses: int = 2_000_000
    # Creatures one request may carry (Evaluate, Train, ImportCreatures, seed creatures).
    max_creatures_per_request: int = 10_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "synapses[3].toUUID"
    message: str  # e.g. "unknown neuron 'h9'"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CreatureError(ValueError):
    """A creature failed validation; `problems` lists every problem with its location."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "; ".join(str(p) for p in self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"invalid creature: {lines}{more}")


class CreatureTooLarge(CreatureError):
    """A creature over a configured size limit (RESOURCE_EXHAUSTED at a service boundary);
    `limits` names each limit crossed (`max_neurons`, `max_synapses`). Found from the counts,
    before any neuron or synapse of it is built."""

    def __init__(self, problems: list[Problem], limits: list[str]):
        super().__init__(problems)
        self.limits = list(limits)


@dataclass
class Tag:
    name: str
    value: str


@dataclass
class Neuron:
    uuid: str
    type: str  # "hidden" | "output" | "constant"
    bias: float = 0.0
    squash: str | None = None  # canonical name; None on constants (IDENTITY for hidden/output)
    frozen: bool | None = None
    tags: list[Tag] | None = None

    @property
    def squash_name(self) -> str:
        """The squash the kernels run (constants and missing squashes are IDENTITY)."""
        return self.squash or squashes.DEFAULT_SQUASH


@dataclass
class Synapse:
    from_uuid: str
    to_uuid: str
    weight: float
    type: str | None = None  # None | "positive" | "negative" | "condition"
    frozen: bool | None = None
    tags: list[Tag] | None = None


@dataclass
class Creature:
    input: int
    output: int
    neurons: list[Neuron] = field(default_factory=list)
    synapses: list[Synapse] = field(default_factory=list)
    semantic_version: str | None = None
    forward_only: bool | None = None  # as declared; `recurrent` tells what the synapses are
    tags: list[Tag] | None = None
    memetic: dict | None = None  # NEAT-AI memetic object, JSON shape
    hyperparameters: dict | None = None

    # ---- structure -------------------------------------------------------------------------

    def uuid_index(self) -> dict[str, int]:
        """Activation-buffer index of every neuron uuid, inputs included."""
        index = {f"input-{i}": i for i in range(self.input)}
        for k, n in enumerate(self.neurons):
            index[n.uuid] = self.input + k
        return index

    @property
    def hidden_count(self) -> int:
        return sum(1 for n in self.neurons if n.type == "hidden")

    @property
    def recurrent(self) -> bool:
        """True when some synapse reads its source's previous activation (self or back synapse)."""
        index = self.uuid_index()
        return any(index[s.from_uuid] >= index[s.to_uuid] for s in self.synapses)

    def copy(self) -> Creature:
        return copy.deepcopy(self)

    # ---- hashes ----------------------------------------------------------------------------

    def structural_hash(self) -> str:
        """Identifies the creature: neurons (order, uuid, type, squash, bias) and synapses.

        Stable under JSON key order and synapse order; tags and memetic data are ignored. The
        bytes digested are laid out in shared/structural_hash.pyx.
        """
        from .structural_hash import hash_creature

        return hash_creature(self)

    def topology_hash(self) -> str:
        """Identifies the wiring only: squashes and synapses by buffer index, no weights,
        biases or uuids. Two creatures with equal topology hashes compile to the same template."""
        index = self.uuid_index()
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<ii", self.input, self.output))
        h.update(bytes(0 if n.type == "constant" else 1 + squashes.squash_id(n.squash_name)
                       for n in self.neurons))
        edges = sorted(map(synapse_order(index), self.synapses))
        h.update(struct.pack(f"<{3 * len(edges)}i", *(v for e in edges for v in e)))
        return h.hexdigest()

    # ---- NEAT-AI JSON ----------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: str | bytes | dict, limits: Limits = DEFAULT_LIMITS) -> Creature:
        """Load NEAT-AI creature JSON (text or parsed). Raises CreatureError listing every problem."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as e:
                raise CreatureError([Problem("$", f"not valid JSON: {e}")]) from None
        return _Loader(limits).load(data)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "input": self.input,
            "output": self.output,
            "neurons": [_neuron_dict(n) for n in self.neurons],
            "synapses": [_synapse_dict(s) for s in self.synapses],
        }
        if self.semantic_version is not None:
            d["semanticVersion"] = self.semantic_version
        if self.forward_only is not None:
            d["forwardOnly"] = self.forward_only
        if self.tags is not None:
            d["tags"] = _tags_out(self.tags)
        if self.memetic is not None:
            d["memetic"] = copy.deepcopy(self.memetic)
        if self.hyperparameters is not None:
            d["hyperparameters"] = copy.deepcopy(self.hyperparameters)
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def tag(self, name: str) -> str | None:
        for t in self.tags or ():
            if t.name == name:
                return t.value
        return None

    def set_tag(self, name: str, value: str) -> None:
        tags = [t for t in (self.tags or []) if t.name != name]
        tags.append(Tag(name, str(value)))
        self.tags = tags

    # ---- protobuf --------------------------------------------------------------------------

    def to_proto(self):
        """The `neatai.v1.Creature` message (`to_bytes`, parsed)."""
        from .v1 import creature_pb2 as pb

        return pb.Creature.FromString(self.to_bytes())

    def to_bytes(self) -> bytes:
        """The serialized `neatai.v1.Creature`, written in one compiled pass (`neatai.wire`)."""
        return _wire().encode(self)

    @classmethod
    def from_proto(cls, msg, limits: Limits = DEFAULT_LIMITS) -> Creature:
        """Validate and load a `neatai.v1.Creature`; problems use the JSON field names."""
        return cls.from_json(proto_to_dict(msg), limits)


def _wire():
    """neatai.wire, imported on first use (it imports this module's type tables)."""
    global _WIRE
    if _WIRE is None:
        from . import wire
        _WIRE = wire
    return _WIRE


_WIRE = None


def proto_to_dict(msg) -> dict[str, Any]:
    """A `neatai.v1.Creature` message as NEAT-AI JSON (unvalidated)."""
    from google.protobuf import json_format

    d: dict[str, Any] = {"input": msg.input, "output": msg.output, "neurons": [], "synapses": []}
    for n in msg.neurons:
        nd: dict[str, Any] = {"type": _NEURON_NAME.get(n.type, f"<unknown type {n.type}>"),
                              "uuid": n.uuid, "bias": n.bias}
        if n.HasField("squash"):
            nd["squash"] = n.squash
        if n.HasField("frozen"):
            nd["frozen"] = n.frozen
        if n.tags:
            nd["tags"] = [{"name": t.name, "value": t.value} for t in n.tags]
        d["neurons"].append(nd)
    for s in msg.synapses:
        sd: dict[str, Any] = {"fromUUID": s.from_uuid, "toUUID": s.to_uuid, "weight": s.weight}
        if s.type:
            sd["type"] = _SYNAPSE_NAME.get(s.type, f"<unknown type {s.type}>")
        if s.HasField("frozen"):
            sd["frozen"] = s.frozen
        if s.tags:
            sd["tags"] = [{"name": t.name, "value": t.value} for t in s.tags]
        d["synapses"].append(sd)
    if msg.HasField("semantic_version"):
        d["semanticVersion"] = msg.semantic_version
    if msg.HasField("forward_only"):
        d["forwardOnly"] = msg.forward_only
    if msg.tags:
        d["tags"] = [{"name": t.name, "value": t.value} for t in msg.tags]
    if msg.HasField("memetic"):
        m = _memetic_from_pb(msg.memetic)
        if msg.memetic.ancestry:
            m["ancestry"] = [_memetic_from_pb(a) for a in msg.memetic.ancestry]
        d["memetic"] = m
    if msg.HasField("hyperparameters"):
        d["hyperparameters"] = json_format.MessageToDict(msg.hyperparameters)
    return d


# ---- loading and validation ------------------------------------------------------------------


class _Loader:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.problems: list[Problem] = []
        self.over_limits: list[str] = []  # the size limits crossed
        self.output_names: list[tuple[str, Neuron]] = []  # (uuid in the file, renamed neuron)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def load(self, data: Any) -> Creature:
        if not isinstance(data, dict):
            raise CreatureError([Problem("$", f"expected a JSON object, got {_kind(data)}")])
        data = dict(data)
        for old, new in (("nodes", "neurons"), ("connections", "synapses")):  # pre-1.0 files
            if old in data and new not in data:
                data[new] = data.pop(old)
        n_in = self.count(data, "input", self.limits.max_inputs)
        n_out = self.count(data, "output", self.limits.max_outputs)
        neurons = self.neurons(data.get("neurons"), n_in)
        synapses = self.synapses(data.get("synapses"))
        forward_only = data.get("forwardOnly")
        if forward_only is not None and not isinstance(forward_only, bool):
            self.problem("forwardOnly", f"expected true or false, got {_kind(forward_only)}")
            forward_only = None
        version = data.get("semanticVersion")
        if version is not None and not isinstance(version, str):
            self.problem("semanticVersion", f"expected a string, got {_kind(version)}")
            version = None
        creature = Creature(
            input=n_in or 0, output=n_out or 0, neurons=[n for _, n in neurons],
            synapses=[s for _, s in synapses], semantic_version=version, forward_only=forward_only,
            tags=self.tags(data.get("tags"), "tags"), memetic=self.memetic(data.get("memetic")),
            hyperparameters=self.hyperparameters(data.get("hyperparameters")),
        )
        if n_in is not None and n_out is not None and not self.problems:
            self.structure(creature, neurons, synapses)
        if self.over_limits:
            raise CreatureTooLarge(self.problems, self.over_limits)
        if self.problems:
            raise CreatureError(self.problems)
        return creature

    def count(self, data: dict, key: str, limit: int) -> int | None:
        value = data.get(key)
        if value is None:
            self.problem(key, "required")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            self.problem(key, f"expected an integer, got {_kind(value)}")
        elif not 1 <= value <= limit:
            self.problem(key, f"must be between 1 and {limit}, got {int(value)}")
        else:
            return int(value)
        return None

    def neurons(self, items: Any, n_in: int | None) -> list[tuple[int, Neuron]]:
        """(original position, Neuron) for every non-input neuron; outputs renamed by position."""
        if not isinstance(items, list):
            self.problem("neurons", "required list" if items is None else f"expected a list, got {_kind(items)}")
            return []
        if len(items) > self.limits.max_neurons:
            self.problem("neurons", f"{len(items)} neurons exceed the limit of {self.limits.max_neurons} (max_neurons)")
            self.over_limits.append("max_neurons")
            return []
        out: list[tuple[int, Neuron]] = []
        outputs = 0
        for i, item in enumerate(items):
            path = f"neurons[{i}]"
            if not isinstance(item, dict):
                self.problem(path, f"expected an object, got {_kind(item)}")
                continue
            kind = item.get("type")
            if kind == "input":  # some legacy files list their inputs; they are implicit
                continue
            uuid = item.get("uuid")
            if not isinstance(uuid, str) or not uuid:
                self.problem(f"{path}.uuid", "required non-empty string")
                uuid = f"<neurons[{i}]>"
            if kind not in NEURON_TYPES:
                self.problem(f"{path}.type", f"unknown neuron type {kind!r} (expected hidden, output or constant)")
                continue
            if kind == "output":
                self.output_names.append((uuid, None))
                uuid = f"output-{outputs}"
                outputs += 1
            elif uuid.startswith(("input-", "output-")):
                self.problem(f"{path}.uuid", f"{uuid!r} is reserved for {uuid.split('-')[0]} neurons")
            bias = self.number(item.get("bias"), f"{path}.bias", required=True)
            name = item.get("squash")
            squash = None
            if name is not None:
                squash = squashes.canonical(name) if isinstance(name, str) else None
                if squash is None:
                    self.problem(f"{path}.squash", f"unknown squash {name!r}")
                elif kind == "constant":
                    self.problem(f"{path}.squash", f"a constant has no squash (got {name!r})")
            frozen = self.flag(item.get("frozen"), f"{path}.frozen")
            neuron = Neuron(uuid, kind, bias, squash, frozen, self.tags(item.get("tags"), f"{path}.tags"))
            if kind == "output":
                self.output_names[-1] = (self.output_names[-1][0], neuron)
            out.append((i, neuron))
        seen: dict[str, int] = {}
        for i, n in out:
            if n.uuid in seen and n.type != "output":
                self.problem(f"neurons[{i}].uuid", f"duplicate uuid {n.uuid!r} (also neurons[{seen[n.uuid]}])")
            seen.setdefault(n.uuid, i)
        return out

    def synapses(self, items: Any) -> list[tuple[int, Synapse]]:
        if not isinstance(items, list):
            self.problem("synapses", "required list" if items is None else f"expected a list, got {_kind(items)}")
            return []
        if len(items) > self.limits.max_synapses:
            self.problem("synapses", f"{len(items)} synapses exceed the limit of {self.limits.max_synapses} "
                                     "(max_synapses)")
            self.over_limits.append("max_synapses")
            return []
        out = []
        for i, item in enumerate(items):
            path = f"synapses[{i}]"
            if not isinstance(item, dict):
                self.problem(path, f"expected an object, got {_kind(item)}")
                continue
            ends = []
            for key in ("fromUUID", "toUUID"):
                value = item.get(key)
                if not isinstance(value, str) or not value:
                    self.problem(f"{path}.{key}", "required non-empty string")
                ends.append(value if isinstance(value, str) else "")
            weight = self.number(item.get("weight"), f"{path}.weight", required=True)
            kind = item.get("type")
            if kind is not None and kind not in SYNAPSE_TYPES:
                self.problem(f"{path}.type", f"unknown synapse type {kind!r} (expected positive, negative or condition)")
                kind = None
            frozen = self.flag(item.get("frozen"), f"{path}.frozen")
            out.append((i, Synapse(ends[0], ends[1], weight, kind, frozen, self.tags(item.get("tags"), f"{path}.tags"))))
        return out

    def structure(self, c: Creature, neurons: list[tuple[int, Neuron]], synapses: list[tuple[int, Synapse]]) -> None:
        """Wiring checks, output renaming, dependency sort and the forward-only rule."""
        declared_outputs = sum(1 for n in c.neurons if n.type == "output")
        if declared_outputs != c.output:
            self.problem("output", f"declares {c.output} outputs but neurons has {declared_outputs} output neurons")
        # Synapses may name an output by the uuid the file gave it; outputs are renamed by position.
        renamed = {orig: n.uuid for orig, n in self.output_names}
        kinds = {f"input-{k}": "input" for k in range(c.input)}
        for n in c.neurons:
            kinds[n.uuid] = n.type
        seen: dict[tuple, int] = {}
        for i, s in synapses:
            s.from_uuid = renamed.get(s.from_uuid, s.from_uuid)
            s.to_uuid = renamed.get(s.to_uuid, s.to_uuid)
            path = f"synapses[{i}]"
            if s.from_uuid not in kinds:
                self.problem(f"{path}.fromUUID", f"unknown neuron {s.from_uuid!r}")
            target = kinds.get(s.to_uuid)
            if target is None:
                self.problem(f"{path}.toUUID", f"unknown neuron {s.to_uuid!r}")
            elif target in ("input", "constant"):
                self.problem(f"{path}.toUUID", f"a synapse cannot end at {target} {s.to_uuid!r}")
            key = _synapse_key(s)
            if key in seen:
                self.problem(path, f"duplicate synapse {s.from_uuid!r} -> {s.to_uuid!r} (also synapses[{seen[key]}])")
            seen.setdefault(key, i)
        if self.problems:
            return
        self.if_roles(c, neurons, synapses)
        self.order(c, neurons, synapses)

    def if_roles(self, c: Creature, neurons, synapses) -> None:
        roles: dict[str, set] = {n.uuid: set() for n in c.neurons if n.squash == "IF"}
        for _, s in synapses:
            if s.to_uuid in roles:
                roles[s.to_uuid].add(s.type or "positive")
        for i, n in neurons:
            if n.uuid in roles:
                missing = [r for r in IF_ROLES if r not in roles[n.uuid]]
                if missing:
                    self.problem(f"neurons[{i}].squash",
                                 f"IF neuron {n.uuid!r} lacks inward synapses for the {', '.join(missing)} role(s)")

    def order(self, c: Creature, neurons, synapses) -> None:
        """Re-sort into dependency order; decide recurrence; enforce a declared forwardOnly."""
        body = [n for n in c.neurons if n.type != "output"]
        outs = [n for n in c.neurons if n.type == "output"]
        # An acyclic body is put in dependency order; a cyclic one keeps the file's order,
        # which then decides which synapses read a previous activation. So does a creature
        # declared `forwardOnly: false`: sorting would turn its back synapses forward.
        if c.forward_only is not False:
            body = _topological(body, [s for _, s in synapses]) or body
        c.neurons = body + outs
        index = c.uuid_index()
        file_path = {id(s): i for i, s in synapses}
        for s in c.synapses:
            if index[s.from_uuid] >= index[s.to_uuid] and c.forward_only:
                what = "self synapse on" if s.from_uuid == s.to_uuid else "back synapse"
                where = f"{s.from_uuid!r}" if s.from_uuid == s.to_uuid else f"{s.from_uuid!r} -> {s.to_uuid!r}"
                self.problem(f"synapses[{file_path[id(s)]}]", f"{what} {where} in a creature declared forwardOnly")
        c.synapses.sort(key=synapse_order(index))

    def number(self, value: Any, path: str, required: bool = False) -> float:
        if value is None:
            if required:
                self.problem(path, "required number")
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, f"expected a number, got {_kind(value)}")
            return 0.0
        try:  # floats, as protobuf carries them (an integer in JSON would not round-trip as one)
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            self.problem(path, "must be finite, got " + (f"{value}" if isinstance(value, float) else
                                                          f"an integer of {len(str(value))} digits"))
            return 0.0
        return number

    def flag(self, value: Any, path: str) -> bool | None:
        if value is not None and not isinstance(value, bool):
            self.problem(path, f"expected true or false, got {_kind(value)}")
            return None
        return value

    def tags(self, items: Any, path: str) -> list[Tag] | None:
        if items is None:
            return None
        if not isinstance(items, list):
            self.problem(path, f"expected a list of {{name, value}}, got {_kind(items)}")
            return None
        out = []
        for i, t in enumerate(items):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or "value" not in t:
                self.problem(f"{path}[{i}]", "expected {name: string, value: string}")
                continue
            value = t["value"]
            out.append(Tag(t["name"], value if isinstance(value, str) else json.dumps(value)))
        return out or None

    def memetic(self, m: Any) -> dict | None:
        if m is None:
            return None
        if not isinstance(m, dict):
            self.problem("memetic", f"expected an object, got {_kind(m)}")
            return None
        out = self.snapshot(m, "memetic")
        ancestry = m.get("ancestry")
        if ancestry is not None:
            if not isinstance(ancestry, list):
                self.problem("memetic.ancestry", f"expected a list, got {_kind(ancestry)}")
            else:
                out["ancestry"] = [self.snapshot(a, f"memetic.ancestry[{i}]") for i, a in enumerate(ancestry)
                                   if isinstance(a, dict)]
        return out

    def snapshot(self, m: dict, path: str) -> dict:
        out: dict[str, Any] = {}
        gen = m.get("generation", 0)
        if isinstance(gen, bool) or not isinstance(gen, (int, float)) or gen != int(gen):
            self.problem(f"{path}.generation", f"expected an integer, got {_kind(gen)}")
        out["generation"] = int(gen) if isinstance(gen, (int, float)) and not isinstance(gen, bool) and gen == int(gen) else 0
        if m.get("score") is not None:
            out["score"] = self.number(m["score"], f"{path}.score")
        weights = m.get("weights", [])
        if isinstance(weights, dict):  # legacy form: {"<from>:<to>": weight}? accept {from: {to: w}} too
            weights = _legacy_weights(weights)
        if not isinstance(weights, list):
            self.problem(f"{path}.weights", f"expected a list, got {_kind(weights)}")
            weights = []
        out["weights"] = []
        for i, w in enumerate(weights):
            if not isinstance(w, dict) or not isinstance(w.get("fromUUID"), str) or not isinstance(w.get("toUUID"), str):
                self.problem(f"{path}.weights[{i}]", "expected {fromUUID, toUUID, weight}")
                continue
            out["weights"].append({"fromUUID": w["fromUUID"], "toUUID": w["toUUID"],
                                   "weight": self.number(w.get("weight"), f"{path}.weights[{i}].weight", True)})
        biases = m.get("biases", {})
        if not isinstance(biases, dict):
            self.problem(f"{path}.biases", f"expected an object, got {_kind(biases)}")
            biases = {}
        out["biases"] = {k: self.number(v, f"{path}.biases.{k}", True) for k, v in biases.items()}
        return out

    def hyperparameters(self, h: Any) -> dict | None:
        if h is not None and not isinstance(h, dict):
            self.problem("hyperparameters", f"expected an object, got {_kind(h)}")
            return None
        return h


def _topological(body: list[Neuron], synapses: Iterable[Synapse]) -> list[Neuron] | None:
    """Stable dependency order of hidden/constant neurons (lowest file position first among the
    ready ones), ignoring self loops. None when the synapses among them form a cycle."""
    pos = {n.uuid: k for k, n in enumerate(body)}
    succ: dict[int, list[int]] = {k: [] for k in range(len(body))}
    indegree = [0] * len(body)
    for s in synapses:
        a, b = pos.get(s.from_uuid), pos.get(s.to_uuid)
        if a is not None and b is not None and a != b:
            succ[a].append(b)
            indegree[b] += 1
    ready = [k for k in range(len(body)) if indegree[k] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(body[k])
        for b in succ[k]:
            indegree[b] -= 1
            if indegree[b] == 0:
                heapq.heappush(ready, b)
    return order if len(order) == len(body) else None


def _legacy_weights(weights: dict) -> list[dict]:
    out = []
    for key, value in weights.items():
        if isinstance(value, dict):
            out.extend({"fromUUID": key, "toUUID": to, "weight": w} for to, w in value.items())
        elif isinstance(key, str) and ":" in key:
            a, b = key.rsplit(":", 1)
            out.append({"fromUUID": a, "toUUID": b, "weight": value})
    return out




def _synapse_key(s: Synapse) -> tuple:
    return (s.from_uuid, s.to_uuid, PB_SYNAPSE_TYPE.get(s.type, 0))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _neuron_dict(n: Neuron) -> dict[str, Any]:
    d: dict[str, Any] = {"type": n.type, "uuid": n.uuid, "bias": n.bias}
    if n.squash is not None:
        d["squash"] = n.squash
    if n.frozen is not None:
        d["frozen"] = n.frozen
    if n.tags is not None:
        d["tags"] = _tags_out(n.tags)
    return d


def _synapse_dict(s: Synapse) -> dict[str, Any]:
    d: dict[str, Any] = {"fromUUID": s.from_uuid, "toUUID": s.to_uuid, "weight": s.weight}
    if s.type is not None:
        d["type"] = s.type
    if s.frozen is not None:
        d["frozen"] = s.frozen
    if s.tags is not None:
        d["tags"] = _tags_out(s.tags)
    return d


def _tags_out(tags: list[Tag]) -> list[dict[str, str]]:
    return [{"name": t.name, "value": t.value} for t in tags]




def _memetic_from_pb(msg) -> dict:
    d: dict[str, Any] = {"generation": msg.generation}
    if msg.HasField("score"):
        d["score"] = msg.score
    d["weights"] = [{"fromUUID": w.from_uuid, "toUUID": w.to_uuid, "weight": w.weight} for w in msg.weights]
    d["biases"] = dict(msg.biases)
    return d
