"""Compiling creatures into kernel networks, with NEAT-AI's two caches (reference §6).

`kernels.flatten` walks a creature once (in C) and returns its compiled arrays with two exact
keys: the topology key (counts, squash ops and the CSR index arrays — the wiring, no
parameters) and the structure key (that plus the float32 biases and weights). These play the
roles of `Creature.topology_hash()` and `structural_hash()`, but they are the compiled bytes
themselves: no collisions, uuid- and order-independent, and ~10× cheaper than the two blake2b
digests, which would otherwise cost more than compiling a small creature.

`compiled-networks` maps a structure key to its `Network`; `topology-templates` maps a
topology key to a network whose index arrays a new network shares, so a template hit only
brings the new biases and weights. Synapses sit in canonical CSR order (target, source,
role), so creatures of one topology fill the same slots whatever order their files use.
"""
from __future__ import annotations

from neatai.creature import Creature
from neatai.lru import LRUCache

from .kernels import Network, flatten, network_from_keys

DEFAULT_NETWORK_CACHE = 512
DEFAULT_TEMPLATE_CACHE = 100


class NetworkCompiler:
    """Compiles creatures through the `compiled-networks` and `topology-templates` LRU caches.

    The network cache defaults to 2 × the population size when it is known (NEAT-AI's
    effective default), 512 otherwise; templates to 100. Thread-safe (the caches lock).
    """

    def __init__(self, network_cache_size: int | None = None, template_cache_size: int = DEFAULT_TEMPLATE_CACHE,
                 population_size: int | None = None):
        if network_cache_size is None:
            network_cache_size = 2 * population_size if population_size else DEFAULT_NETWORK_CACHE
        self.networks: LRUCache[bytes, Network] = LRUCache("compiled-networks", network_cache_size)
        self.templates: LRUCache[bytes, Network] = LRUCache("topology-templates", template_cache_size)

    def compile(self, creature: Creature) -> tuple[Network, bool]:
        """The creature's network and whether it came from the network cache."""
        topology_key, structure_key = flatten(creature)
        network = self.networks.get(structure_key)
        if network is not None:
            return network, True
        template = self.templates.get(topology_key)
        network = network_from_keys(topology_key, structure_key, template)
        if template is None:
            self.templates.put(topology_key, network)
        self.networks.put(structure_key, network)
        return network, False

    def caches(self) -> tuple[LRUCache, LRUCache]:
        """(compiled-networks, topology-templates)."""
        return self.networks, self.templates


_default = NetworkCompiler()


def compile_network(creature: Creature) -> Network:
    """The creature's compiled network (through a module-wide NetworkCompiler)."""
    return _default.compile(creature)[0]


def default_compiler() -> NetworkCompiler:
    return _default
