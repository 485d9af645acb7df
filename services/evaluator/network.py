"""Compiling creatures into kernel networks, with NEAT-AI's two caches (reference §6).

`compiled.flatten` walks a creature once (in C) and returns its compiled form as two byte
strings: the index (counts, squash ops, CSR index arrays, roles — the wiring) and the
parameters (float32 biases and weights). They play the roles of `Creature.topology_hash()`
and `structural_hash()` as cache keys, but they are the compiled bytes themselves: exact (no
collisions), independent of uuids and listing order, and ~10× cheaper than the two blake2b
digests, which would cost more than compiling a small creature.

`topology-templates` maps an index to a network whose index and range arrays every later
network of that topology shares; `compiled-networks` maps (index, parameters) to its
`Network`, its key holding the template's index object, so a cached network costs only its
parameters. Synapses sit in canonical CSR order (target, source, role), so creatures of one
topology fill the same slots whatever order their files list them in.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from neatai.creature import Creature
from neatai.lru import LRUCache

from .compiled import Network, flatten, network_from_keys
from .wire_reader import FlatCreature

DEFAULT_NETWORK_CACHE = 512
DEFAULT_TEMPLATE_CACHE = 100


def run_network_cache_size(population_size: int, memetic: bool = False) -> int:
    """NEAT-AI's compiled-network cache for one run: 2 × its population, 3 × when memetic (seed
    000: trained copies are networks of their own beside the population they came from)."""
    return (3 if memetic else 2) * population_size


class NetworkCompiler:
    """Compiles creatures through the `compiled-networks` and `topology-templates` LRU caches.

    The network cache defaults to 2 × the population size when it is known (NEAT-AI's
    effective default), 3 × with `memetic` (seed 000: trained copies are networks of their own
    beside the population they came from), 512 otherwise; templates to 100. Thread-safe (the
    caches lock).

    An evaluator is deployed apart from the evolvers it serves and may serve many runs, so its
    own cache is sized by its config (`--network-cache-size`), not by any one run: the evolver
    does not control it. Whoever deploys one for memetic runs sizes it 3 × their population.
    """

    def __init__(self, network_cache_size: int | None = None, template_cache_size: int = DEFAULT_TEMPLATE_CACHE,
                 population_size: int | None = None, memetic: bool = False):
        if network_cache_size is None:
            network_cache_size = run_network_cache_size(population_size, memetic) if population_size \
                else DEFAULT_NETWORK_CACHE
        self.networks: LRUCache[tuple[bytes, bytes], Network] = LRUCache("compiled-networks", network_cache_size)
        self.templates: LRUCache[bytes, Network] = LRUCache("topology-templates", template_cache_size)

    def compile(self, creature: Creature | FlatCreature) -> tuple[Network, bool]:
        """The creature's network and whether it came from the network cache."""
        if isinstance(creature, FlatCreature):
            index, params = creature.index, creature.params
        else:
            index, params = flatten(creature)
        network = self.networks.get((index, params))
        if network is not None:
            return network, True
        template = self.templates.get(index)
        network = network_from_keys(index, params, template)
        if template is None:
            self.templates.put(index, network)
        self.networks.put((network.topology_key, params), network)
        return network, False

    def compile_all(self, creatures: Sequence[FlatCreature]) -> tuple[list[Network], list[bool]]:
        """`compile` of a batch, each cache locked once: (networks, whether each was a hit).
        Evictions happen after the batch is in (a batch larger than the cache still compiles)."""
        networks = self.networks.get_many([(c.index, c.params) for c in creatures])
        hits = [n is not None for n in networks]
        missing = [i for i, hit in enumerate(hits) if not hit]
        if not missing:
            return networks, hits
        templates = self.templates.get_many([creatures[i].index for i in missing])
        new_templates, made = {}, {}
        for i, template in zip(missing, templates):
            c = creatures[i]
            network = made.get((c.index, c.params))  # the same structure twice in one batch
            if network is None:
                template = template or new_templates.get(c.index)
                network = network_from_keys(c.index, c.params, template)
                if template is None:
                    new_templates[c.index] = network
                made[(network.topology_key, c.params)] = network
            networks[i] = network
        if new_templates:
            self.templates.put_many(list(new_templates.items()))
        self.networks.put_many(list(made.items()))
        return networks, hits

    def caches(self) -> tuple[LRUCache, LRUCache]:
        """(compiled-networks, topology-templates)."""
        return self.networks, self.templates


_default = NetworkCompiler()


def compile_network(creature: Creature) -> Network:
    """The creature's compiled network (through a module-wide NetworkCompiler)."""
    return _default.compile(creature)[0]


def trainable_network(creature: Creature) -> Network:
    """The creature -> arrays adapter for kernels that change parameters (training) or name
    neurons (recording): a network with its own writable biases and weights, the CSR-slot ->
    synapse map, every neuron's uuid (inputs first) and the frozen flags (`frozen: true`)."""
    index, params, order = flatten(creature, keep_order=True)
    synapses = creature.synapses
    return network_from_keys(index, params).trainable(
        synapse_order=order,
        names=[f"input-{i}" for i in range(creature.input)] + [n.uuid for n in creature.neurons],
        frozen_bias=[bool(n.frozen) for n in creature.neurons],
        frozen_weights=[bool(synapses[i].frozen) for i in order])


def write_back(network: Network, creature: Creature) -> Creature:
    """A copy of `creature` carrying the network's biases and weights (a `trainable_network` of it)."""
    if network.synapse_order is None or network.n_synapses != len(creature.synapses) \
            or network.n_neurons != len(creature.neurons):
        raise ValueError("network is not a trainable_network of this creature")
    # A value the network left as it compiled it keeps the creature's float64 original.
    out = creature.copy()
    for neuron, bias in zip(out.neurons, network.bias.tolist()):
        if bias != float(np.float32(neuron.bias)):
            neuron.bias = bias
    weights = network.weights.tolist()
    for slot, i in enumerate(network.synapse_order.tolist()):
        if weights[slot] != float(np.float32(out.synapses[i].weight)):
            out.synapses[i].weight = weights[slot]
    return out
