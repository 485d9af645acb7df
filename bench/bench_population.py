"""Population scoring in process: 150 XOR-sized creatures scored on the 4 XOR cases.

neatai: compile every creature (NetworkCompiler: network + topology-template caches) and
score the population with one `evaluate_population` call (MSE). neat-python 2.0.0: the
usual XOR fitness loop — `FeedForwardNetwork.create` and 4 `activate` calls per genome.
Both sides get the same 150 random genomes (2 inputs, 3 hidden, 1 output, 11 connections,
random sigmoid/tanh/relu hidden activations), converted to NEAT-AI creatures for neatai.

neatai cases: `cold` (fresh compiler: every network and template is built), `new weights`
(same topologies, other weights: template hits, as after weight mutation), `cached` (the
same creatures again: network-cache hits, e.g. elites), `no caches` (compile without the
two LRU caches: for creatures this small the cache bookkeeping costs about as much as
compiling), and the kernel alone.

    .venv/bin/python bench/bench_population.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

import numpy as np

from neatai.creature import Creature
from neatai.evaluator import NetworkCompiler, evaluate_population
from neatai.evaluator.compiled import flatten, network_from_keys

POPULATION = 150
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)

NEAT_CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 3.9
pop_size              = 150
reset_on_extinction   = False
no_fitness_termination = False

[DefaultGenome]
activation_default      = random
activation_mutate_rate  = 0.0
activation_options      = sigmoid tanh relu
aggregation_default     = sum
aggregation_mutate_rate = 0.0
aggregation_options     = sum
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = 0.5
conn_delete_prob        = 0.5
enabled_default         = True
enabled_mutate_rate     = 0.01
feed_forward            = True
initial_connection      = full_direct
node_add_prob           = 0.2
node_delete_prob        = 0.2
num_hidden              = 3
num_inputs              = 2
num_outputs             = 1
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
"""
SQUASH = {"sigmoid": "LOGISTIC", "tanh": "TANH", "relu": "ReLU"}


def neat_config():
    import neat

    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write(NEAT_CONFIG)
    try:
        return neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                           neat.DefaultStagnation, f.name)
    finally:
        os.unlink(f.name)


def to_creature(genome, config) -> Creature:
    """The neat-python genome as a NEAT-AI creature with the same wiring and parameters."""
    gc = config.genome_config
    names = {k: f"input-{i}" for i, k in enumerate(gc.input_keys)}
    names.update({k: f"output-{i}" for i, k in enumerate(gc.output_keys)})
    hidden = sorted(k for k in genome.nodes if k not in gc.output_keys)
    names.update({k: f"h{k}" for k in hidden})
    neurons = [{"type": "hidden", "uuid": names[k], "bias": genome.nodes[k].bias,
                "squash": SQUASH[genome.nodes[k].activation]} for k in hidden]
    neurons += [{"type": "output", "uuid": names[k], "bias": genome.nodes[k].bias,
                 "squash": SQUASH[genome.nodes[k].activation]} for k in gc.output_keys]
    synapses = [{"fromUUID": names[a], "toUUID": names[b], "weight": cg.weight}
                for (a, b), cg in genome.connections.items() if cg.enabled]
    return Creature.from_json({"input": len(gc.input_keys), "output": len(gc.output_keys),
                               "neurons": neurons, "synapses": synapses})


def neat_python_fitness(genomes, config) -> list[float]:
    """neat-python's XOR example fitness loop (4 − squared error)."""
    from neat.nn import FeedForwardNetwork

    cases = [((0.0, 0.0), 0.0), ((0.0, 1.0), 1.0), ((1.0, 0.0), 1.0), ((1.0, 1.0), 0.0)]
    fitness = []
    for genome in genomes:
        net = FeedForwardNetwork.create(genome, config)
        f = 4.0
        for xi, xo in cases:
            f -= (net.activate(xi)[0] - xo) ** 2
        fitness.append(f)
    return fitness


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 20
    random.seed(1)
    config = neat_config()
    from neat.innovation import InnovationTracker

    config.genome_config.innovation_tracker = InnovationTracker()
    genomes = []
    for key in range(POPULATION):
        g = config.genome_type(key)
        g.configure_new(config.genome_config)
        genomes.append(g)
    creatures = [to_creature(g, config) for g in genomes]
    reweighted = []
    for c in creatures:
        d = c.copy()
        for s in d.synapses:
            s.weight += random.gauss(0, 0.1)
        reweighted.append(d)
    sizes = {(c.hidden_count, len(c.synapses)) for c in creatures}
    print(f"{POPULATION} creatures/genomes, (hidden, synapses) sizes {sorted(sizes)}, 4 XOR records; "
          f"python {sys.version.split()[0]}")

    def neatai(pop, compiler):
        nets = [compiler.compile(c)[0] for c in pop]
        return evaluate_population(nets, XOR_X, XOR_Y, cost="MSE")

    warm = NetworkCompiler(population_size=POPULATION)
    neatai(creatures, warm)
    nets = [warm.compile(c)[0] for c in creatures]
    cases = {
        "neatai cold (build every network)": lambda: neatai(creatures, NetworkCompiler(population_size=POPULATION)),
        "neatai new weights (template hits)": None,
        "neatai cached (network-cache hits)": lambda: neatai(creatures, warm),
        "neatai no caches (flatten + kernel)": lambda: evaluate_population(
            [network_from_keys(*flatten(c)) for c in creatures], XOR_X, XOR_Y, cost="MSE"),
        "neatai kernel only (compiled)": lambda: evaluate_population(nets, XOR_X, XOR_Y, cost="MSE"),
    }

    def template_hits():
        compiler = NetworkCompiler(population_size=POPULATION)
        for c in creatures:  # fill the template cache outside the timing
            compiler.compile(c)
        t0 = time.perf_counter()
        neatai(reweighted, compiler)
        return time.perf_counter() - t0

    t_peer = best(lambda: neat_python_fitness(genomes, config), repeats)
    print(f"{'neat-python create + activate x4':<38} {t_peer * 1e3:8.3f} ms  "
          f"({t_peer / POPULATION * 1e6:6.1f} us/genome)")
    for name, fn in cases.items():
        t = min(template_hits() for _ in range(repeats)) if fn is None else best(fn, repeats)
        print(f"{name:<38} {t * 1e3:8.3f} ms  ({t / POPULATION * 1e6:6.1f} us/creature)  "
              f"{t_peer / t:6.1f}x neat-python")


if __name__ == "__main__":
    main()
