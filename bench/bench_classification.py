"""Classification under a fixed wall-clock budget: neatai's evolver beside neat-python 2.0.0.

A real dataset shipped with scikit-learn (breast cancer: 569 records, 30 features, 2 classes;
or digits: 1,797 records, 64 features, 10 classes), split 70/30 stratified, features
standardised on the training part. Each system gets the same wall-clock budget and population
(150), is scored on the training part only (MSE against one-hot targets), and its best creature
is then measured on the held-out part (accuracy = argmax of the outputs, or output > 0.5 with
one output). neatai runs twice: with NEAT-AI's initial weights (all positive, growing with the
input count) and with `initialWeights: symmetric`. neatai scores with the compiled kernels in process; neat-python with its
FeedForwardNetwork, the way its examples do.

    .venv/bin/python bench/bench_classification.py [--dataset breast_cancer|digits] [--budget 60] [--seed 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import neat
from bench_xor import NEAT_PYTHON_CONFIG
from neatai.evaluator import compile_network, evaluate_in_process
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution

POPULATION = 150


def load(name: str, seed: int):
    data = load_breast_cancer() if name == "breast_cancer" else load_digits()
    X, y = data.data.astype(np.float64), data.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    classes = int(y.max()) + 1
    outputs = 1 if classes == 2 else classes
    return (scaler.transform(X_train).astype(np.float32), scaler.transform(X_test).astype(np.float32),
            y_train, y_test, outputs)


def targets(y: np.ndarray, outputs: int) -> np.ndarray:
    if outputs == 1:
        return y.reshape(-1, 1).astype(np.float32)
    return np.eye(outputs, dtype=np.float32)[y]


def accuracy(predicted: np.ndarray, y: np.ndarray) -> float:
    labels = (predicted[:, 0] > 0.5).astype(int) if predicted.shape[1] == 1 else predicted.argmax(axis=1)
    return float((labels == y).mean())


def run_neatai(X, Xt, y, yt, outputs, budget, seed, initial_weights):
    Y = targets(y, outputs)
    config = EvolverConfig(population_size=POPULATION, seed=seed, target_error=0.0, timeout_seconds=budget,
                           initial_weights=initial_weights)
    evo = Evolution(config, X.shape[1], outputs)
    evo.run(lambda creatures: evaluate_in_process(creatures, X, Y))
    net = compile_network(evo.best)
    return {"generations": evo.generation, "evaluations": evo.evaluations, "train_error": evo.best_error,
            "train_acc": accuracy(net.activate(X), y), "test_acc": accuracy(net.activate(Xt), yt),
            "hidden": evo.best.hidden_count, "synapses": len(evo.best.synapses)}


def run_neat_python(X, Xt, y, yt, outputs, budget, seed, path):
    Y = targets(y, outputs)
    text = (NEAT_PYTHON_CONFIG.replace("num_inputs              = 2", f"num_inputs              = {X.shape[1]}")
            .replace("num_outputs             = 1", f"num_outputs             = {outputs}")
            .replace("fitness_threshold     = 3.9", "fitness_threshold     = 1e9"))
    with open(path, "w") as f:
        f.write(text)
    config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                         neat.DefaultStagnation, path)
    rows, truth = X.tolist(), Y.tolist()
    evaluations = 0

    def eval_genomes(genomes, cfg):
        nonlocal evaluations
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, cfg)
            se = 0.0
            for x, t in zip(rows, truth):
                out = net.activate(x)
                se += sum((o - v) ** 2 for o, v in zip(out, t))
            g.fitness = -se / (len(rows) * outputs)  # minus the MSE
            evaluations += 1

    start = time.perf_counter()
    p = neat.Population(config, seed=seed)
    best = None
    generations = 0
    while time.perf_counter() - start < budget:
        winner = p.run(eval_genomes, 1)
        generations += 1
        if best is None or winner.fitness > best.fitness:
            best = winner
    net = neat.nn.FeedForwardNetwork.create(best, config)

    def predict(A):
        return np.array([net.activate(x) for x in A.tolist()])

    return {"generations": generations, "evaluations": evaluations, "train_error": -best.fitness,
            "train_acc": accuracy(predict(X), y), "test_acc": accuracy(predict(Xt), yt),
            "hidden": len(best.nodes) - outputs, "synapses": sum(c.enabled for c in best.connections.values())}


def main() -> int:
    import os
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["breast_cancer", "digits"], default="breast_cancer")
    ap.add_argument("--budget", type=float, default=60.0, help="wall-clock seconds per system")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    X, Xt, y, yt, outputs = load(args.dataset, args.seed)
    rows = [(f"neatai, initialWeights {w}", run_neatai(X, Xt, y, yt, outputs, args.budget, args.seed, w))
            for w in ("neat-ai", "symmetric")]
    with tempfile.TemporaryDirectory() as d:
        rows.append(("neat-python 2.0.0",
                     run_neat_python(X, Xt, y, yt, outputs, args.budget, args.seed, os.path.join(d, "config"))))
    print(f"{args.dataset}: {len(y)} train / {len(yt)} held-out records, {X.shape[1]} inputs, {outputs} outputs, "
          f"population {POPULATION}, budget {args.budget:.0f} s each, seed {args.seed}")
    print("| system | held-out accuracy | train accuracy | train MSE | generations | evaluations | hidden | synapses |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['test_acc']:.3f} | {r['train_acc']:.3f} | {r['train_error']:.4f} | {r['generations']:,} | "
              f"{r['evaluations']:,} | {r['hidden']} | {r['synapses']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
