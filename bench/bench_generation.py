"""Time per generation excluding fitness: neatai's evolver beside neat-python 2.0.0, same process.

Both evolve XOR (2 inputs, 1 output) from scratch for the same number of generations with
termination switched off, one generation of each in turn; fitness time (neatai: the compiled
kernels; neat-python: its FeedForwardNetwork) is left out, so the figure is speciation +
reproduction + mutation + bookkeeping: neatai's `Evolution.tell()`, neat-python's
`Population.run(n=1)` minus its fitness function.

    .venv/bin/python bench/bench_generation.py [--sizes 1000 5000] [--generations 30]
"""
from __future__ import annotations

import argparse
import statistics
import time


import neat
from bench_xor import X, Y, neat_python_config  # the example XOR config
from neatai.evaluator import evaluate_in_process
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution


class NeataiRun:
    def __init__(self, size: int, generations: int, seed: int):
        config = EvolverConfig(population_size=size, seed=seed, target_error=0.0, iterations=generations + 1)
        self.evo = Evolution(config, 2, 1)
        self.species = 0

    def generation(self) -> float:
        """Seconds of one generation outside fitness: `tell()` (speciate, then breed)."""
        errors, scores = evaluate_in_process(self.evo.ask(), X, Y)
        t = time.perf_counter()
        self.species = self.evo.tell(errors, scores).species
        return time.perf_counter() - t


class NeatPythonRun:
    def __init__(self, size: int, seed: int):
        self.config = neat_python_config()
        self.config.pop_size = size
        self.config.no_fitness_termination = True
        self.population = neat.Population(self.config, seed=seed)
        self.fitness = 0.0

    def eval_genomes(self, genomes, cfg):
        t = time.perf_counter()
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, cfg)
            g.fitness = 4.0 - sum((net.activate(x)[0] - y[0]) ** 2 for x, y in zip(X.tolist(), Y.tolist()))
        self.fitness = time.perf_counter() - t

    def generation(self) -> float:
        """Seconds of one `Population.run(n=1)` (fitness, reproduce, speciate) minus its fitness."""
        t = time.perf_counter()
        self.population.run(self.eval_genomes, 1)
        return time.perf_counter() - t - self.fitness

    @property
    def species(self) -> int:
        return len(self.population.species.species)


def measure(size: int, generations: int, seed: int) -> tuple[list[float], int, list[float], int]:
    """Generations alternate between the two systems so that background load hits both alike.
    neat-python's random module state is global: neatai never touches it."""
    ours, theirs = NeataiRun(size, generations, seed), NeatPythonRun(size, seed)
    a, b = [], []
    for _ in range(generations):
        a.append(ours.generation())
        b.append(theirs.generation())
    return a, ours.species, b, theirs.species


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    evaluate_in_process([], X, Y)
    print(f"time per generation excluding fitness (median, and mean in brackets) over generations 1..{args.generations}, "
          f"XOR-shaped creatures, seed {args.seed}")
    print("| population | neatai ms | neatai species | neat-python ms | neat-python species | neatai / neat-python (median) |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        ours, our_species, theirs, their_species = measure(size, args.generations, args.seed)
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"| {size:,} | {mo * 1e3:.1f} ({statistics.fmean(ours) * 1e3:.1f}) | {our_species} | "
              f"{mt * 1e3:.1f} ({statistics.fmean(theirs) * 1e3:.1f}) | {their_species} | {mo / mt:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
