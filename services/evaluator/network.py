"""Compiling creatures into kernel networks, with NEAT-AI's two caches (reference §6).

`compiled-networks` maps a creature's structural hash to its `Network`; `topology-templates`
maps its topology hash (wiring and squashes, no weights/biases) to a network whose index
arrays are reused: a template hit only gathers the new weights and biases.

The CSR order of the synapses is canonical — by (target, source, role) index — so two
creatures with one topology hash put the same synapse in the same slot whatever order
their files list them in.
"""
from __future__ import annotations

import numpy as np

from neatai import squash as squashes
from neatai.creature import Creature
from neatai.lru import LRUCache

from .kernels import OP_CONSTANT, Network

_ROLE = {None: 0, "positive": 1, "negative": 2, "condition": 3}
_IDENTITY = squashes.BY_NAME["IDENTITY"]
_LO = np.array([s.lo for s in squashes.SQUASHES], dtype=np.float32)
_HI = np.array([s.hi for s in squashes.SQUASHES], dtype=np.float32)
DEFAULT_NETWORK_CACHE = 512
DEFAULT_TEMPLATE_CACHE = 100


def _edges(creature: Creature) -> list[tuple[int, int, int, float]]:
    """(target, source, role, weight) of every synapse in canonical CSR order."""
    index = creature.uuid_index()
    return sorted((index[s.to_uuid], index[s.from_uuid], _ROLE[s.type], s.weight) for s in creature.synapses)


def _biases(creature: Creature) -> np.ndarray:
    return np.fromiter((n.bias for n in creature.neurons), dtype=np.float32, count=len(creature.neurons))


def _build(creature: Creature) -> Network:
    """Compile from scratch: every array of the network."""
    n_in, nodes = creature.input, creature.neurons
    ops = np.array([OP_CONSTANT if n.type == "constant" else squashes.squash_id(n.squash_name) for n in nodes],
                   dtype=np.int32)
    squash_ids = np.where(ops == OP_CONSTANT, _IDENTITY.id, ops)  # constants are limited as IDENTITY
    edges = _edges(creature)
    targets = np.fromiter((e[0] - n_in for e in edges), dtype=np.int32, count=len(edges))
    offsets = np.zeros(len(nodes) + 1, dtype=np.int32)
    np.cumsum(np.bincount(targets, minlength=len(nodes)), out=offsets[1:])
    return Network(
        n_in, creature.output, ops, _biases(creature), _LO[squash_ids], _HI[squash_ids], offsets,
        np.fromiter((e[1] for e in edges), dtype=np.int32, count=len(edges)),
        np.fromiter((e[3] for e in edges), dtype=np.float32, count=len(edges)),
        np.fromiter((e[2] for e in edges), dtype=np.int8, count=len(edges)),
        any(e[1] >= e[0] for e in edges),
    )


def _from_template(template: Network, creature: Creature) -> Network:
    weights = np.fromiter((e[3] for e in _edges(creature)), dtype=np.float32, count=template.n_synapses)
    return template.with_parameters(_biases(creature), weights)


class NetworkCompiler:
    """Compiles creatures through the `compiled-networks` and `topology-templates` LRU caches.

    The network cache defaults to 2 × the population size when it is known (NEAT-AI's
    effective default), 512 otherwise; templates to 100. Thread-safe (the caches lock).
    """

    def __init__(self, network_cache_size: int | None = None, template_cache_size: int = DEFAULT_TEMPLATE_CACHE,
                 population_size: int | None = None):
        if network_cache_size is None:
            network_cache_size = 2 * population_size if population_size else DEFAULT_NETWORK_CACHE
        self.networks: LRUCache[str, Network] = LRUCache("compiled-networks", network_cache_size)
        self.templates: LRUCache[str, Network] = LRUCache("topology-templates", template_cache_size)

    def compile(self, creature: Creature) -> tuple[Network, bool]:
        """The creature's network and whether it came from the network cache."""
        key = creature.structural_hash()
        network = self.networks.get(key)
        if network is not None:
            return network, True
        topology = creature.topology_hash()
        template = self.templates.get(topology)
        if template is None:
            network = _build(creature)
            self.templates.put(topology, network)
        else:
            network = _from_template(template, creature)
        self.networks.put(key, network)
        return network, False

    def caches(self) -> tuple[LRUCache, LRUCache]:
        return self.networks, self.templates


_default = NetworkCompiler()


def compile_network(creature: Creature) -> Network:
    """The creature's compiled network (through a module-wide NetworkCompiler)."""
    return _default.compile(creature)[0]


def default_compiler() -> NetworkCompiler:
    return _default
