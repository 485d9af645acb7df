"""XOR: neatai's evolver beside neat-python 2.0.0 with its example XOR config, same process.

Both use population 150 and at most 300 generations; XOR is solved at MSE <= 0.025 over the 4
cases, which is neat-python's fitness_threshold 3.9 (fitness = 4 - SSE). Evaluations count
creatures scored (neatai does not re-score creatures carried over unchanged; neat-python scores
its whole population every generation). Runs alternate neatai / neat-python per seed so that
background load hits both alike.

    .venv/bin/python bench/bench_xor.py [--seeds 100] [--pool LOGISTIC]

`--pool` restricts neatai's squash pool (an ablation: `LOGISTIC` is neat-python's sigmoid-only
setting); by default the evolver uses NEAT-AI's whole weighted squash pool.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

import numpy as np

import neat
from neatai.evaluator import evaluate_in_process
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.genome import operators

POPULATION = 150
GENERATIONS = 300
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)

# neat-python's examples/xor/config-feedforward (v2.0.0), values per reference/peers.md §1.3.
NEAT_PYTHON_CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 3.9
pop_size              = 150
reset_on_extinction   = False
no_fitness_termination = False

[DefaultGenome]
activation_default      = sigmoid
activation_mutate_rate  = 0.0
activation_options      = sigmoid
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
num_hidden              = 0
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
single_structural_mutation = false
structural_mutation_surer  = default
bias_init_type          = gaussian
response_init_type      = gaussian
weight_init_type        = gaussian
enabled_rate_to_true_add  = 0.0
enabled_rate_to_false_add = 0.0

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20
species_elitism      = 2

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
min_species_size   = 2
"""


def neat_python_config() -> neat.Config:
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write(NEAT_PYTHON_CONFIG)
    try:
        return neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                           neat.DefaultStagnation, f.name)
    finally:
        os.unlink(f.name)


def run_neat_python(config: neat.Config, seed: int) -> dict:
    evaluations = 0

    def eval_genomes(genomes, cfg):
        nonlocal evaluations
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, cfg)
            g.fitness = 4.0 - sum((net.activate(x)[0] - y[0]) ** 2 for x, y in zip(X.tolist(), Y.tolist()))
            evaluations += 1

    t = time.perf_counter()
    p = neat.Population(config, seed=seed)
    best = p.run(eval_genomes, GENERATIONS)
    wall = time.perf_counter() - t
    return {"solved": best.fitness >= 3.9, "evaluations": evaluations, "wall": wall,
            "hidden": len(best.nodes) - 1, "synapses": sum(c.enabled for c in best.connections.values())}


def run_neatai(seed: int) -> dict:
    t = time.perf_counter()
    config = EvolverConfig(population_size=POPULATION, seed=seed, target_error=0.025, iterations=GENERATIONS)
    evo = Evolution(config, 2, 1)
    evo.run(lambda creatures: evaluate_in_process(creatures, X, Y))
    wall = time.perf_counter() - t
    return {"solved": evo.solved, "evaluations": evo.evaluations, "wall": wall, "generations": evo.generation,
            "hidden": evo.best.hidden_count, "synapses": len(evo.best.synapses),
            "squash": evo.best.neurons[-1].squash}


def summary(name: str, runs: list[dict]) -> dict:
    solved = [r for r in runs if r["solved"]]
    ev = sorted(r["evaluations"] for r in solved) or [0]
    wall = [r["wall"] for r in runs]
    row = {
        "name": name, "solved": f"{len(solved)}/{len(runs)}",
        "mean_evals": statistics.fmean(ev), "median_evals": statistics.median(ev),
        "p90_evals": ev[min(len(ev) - 1, int(0.9 * len(ev)))],
        "mean_wall": statistics.fmean(wall), "median_wall": statistics.median(wall),
        "mean_hidden": statistics.fmean(r["hidden"] for r in solved) if solved else 0.0,
    }
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--pool", nargs="*", help="restrict neatai's squash pool (ablation)")
    ap.add_argument("--skip-neat-python", action="store_true")
    args = ap.parse_args()
    if args.pool:
        operators.POOL = tuple(operators.squashes.mutation_pool(args.pool))
    config = neat_python_config()
    ours, theirs = [], []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    evaluate_in_process([operators.initial_creature(2, 1, random.Random(0))], X, Y)  # warm-up
    for seed in seeds:
        ours.append(run_neatai(seed))
        if not args.skip_neat_python:
            theirs.append(run_neat_python(config, seed))
        print(f"seed {seed}: neatai {ours[-1]['evaluations']} evals {ours[-1]['wall']:.3f}s"
              + (f" | neat-python {theirs[-1]['evaluations']} evals {theirs[-1]['wall']:.3f}s" if theirs else ""),
              file=sys.stderr)
    rows = [summary("neatai" + (f" (pool {' '.join(args.pool)})" if args.pool else ""), ours)]
    if theirs:
        rows.append(summary("neat-python 2.0.0", theirs))
    print(f"XOR, population {POPULATION}, <= {GENERATIONS} generations, seeds {seeds.start}..{seeds.stop - 1}")
    print("| system | solved | mean evals | median evals | p90 evals | mean wall s | median wall s | hidden (solved) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['solved']} | {r['mean_evals']:,.0f} | {r['median_evals']:,.0f} | "
              f"{r['p90_evals']:,} | {r['mean_wall']:.3f} | {r['median_wall']:.3f} | {r['mean_hidden']:.2f} |")
    if theirs:
        a, b = rows
        print(f"evaluations: neat-python / neatai = {b['mean_evals'] / a['mean_evals']:.1f}x (mean); "
              f"median wall: neat-python / neatai = {b['median_wall'] / a['median_wall']:.1f}x")
    squashes = {}
    for r in ours:
        if r["solved"]:
            squashes[r["squash"]] = squashes.get(r["squash"], 0) + 1
    print("neatai winners' output squash:", dict(sorted(squashes.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
