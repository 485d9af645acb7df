"""Discovery: recording throughput and analysis time (reference/discovery.md §1, §2, §4).

Recording: NEAT-AI's `large.json` (653 inputs, 424 neurons) on random records — the recording
kernel alone and the whole Record path (kernel + Parquet writer, rows of §1.4: one per neuron
and input per record), in records/s, against the ≈ 700 records/s NEAT-AI's comments quote for
its recorder (a quoted figure: NEAT-AI does not run here).

Analysis: `analyse_recording` on recordings of layered creatures with 20-450 neurons on
10 k-100 k observations, focus 6, on the backend NEATAI_DISCOVERY_DEVICE picks (NumPy here);
with `--compare-gpu` both backends run each size and the ratio is printed.

    .venv/bin/python bench/bench_discovery.py [--quick] [--records 20000]
        [--observations 10000,30000,100000] [--neurons 20,100,450] [--compare-gpu]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.discovery.analysis import AnalysisOptions, analyse_recording
from neatai.discovery.loader import Recording
from neatai.evaluator.network import trainable_network
from neatai.evaluator.recorder import record
from neatai.evaluator.recording import record_activations

ROOT = Path(__file__).resolve().parents[1]
NEAT_AI_RECORDS_PER_S = 700
TARGET_RATIO = 100


def bench_recording(records: int) -> None:
    c = Creature.from_json((ROOT / "tests" / "fixtures" / "neat-ai" / "large.json").read_text())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(records, c.input)).astype(np.float32)
    Y = rng.normal(size=(records, c.output)).astype(np.float32)
    net = trainable_network(c)
    t0 = time.perf_counter()
    record_activations(net, X, Y)
    kernel = records / (time.perf_counter() - t0)
    ds = Dataset(X, Y)
    with tempfile.TemporaryDirectory() as d:
        out = record(c, ds, ds.id, d, 1.0)
        whole = out.observations / out.seconds
        size = out.bytes
    print(f"recording large.json ({c.input} inputs, {len(c.neurons)} neurons), {records} records:")
    for label, rate in (("kernel (values, activations, errors)", kernel), ("Record to Parquet", whole)):
        ratio = rate / NEAT_AI_RECORDS_PER_S
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        print(f"  {label:38s} {rate:10.0f} records/s  {ratio:6.1f}x NEAT-AI's ~{NEAT_AI_RECORDS_PER_S}/s "
              f"(target {TARGET_RATIO}x: {verdict})")
    print(f"  Parquet: {size / 1e6:.0f} MB, {size / records / 1e3:.1f} kB a record "
          f"({c.input + len(c.neurons)} rows a record)")


def layered(neurons: int, inputs: int = 10, seed: int = 0) -> Creature:
    """A creature of `neurons` hidden neurons in layers of ≤ 20 (each fed by 3 of the layer
    before) and one output: a realistic depth for the neuron counts measured."""
    rng = np.random.default_rng(seed)
    squashes = ["TANH", "LOGISTIC", "ReLU", "IDENTITY", "ELU"]
    hidden, synapses, previous = [], [], [f"input-{i}" for i in range(inputs)]
    while len(hidden) < neurons:
        layer = []
        for _ in range(min(20, neurons - len(hidden))):
            u = f"h{len(hidden)}"
            hidden.append({"type": "hidden", "uuid": u, "bias": float(rng.normal(0, 0.1)),
                           "squash": squashes[len(hidden) % len(squashes)]})
            for f in rng.choice(previous, size=min(3, len(previous)), replace=False):
                synapses.append({"fromUUID": str(f), "toUUID": u, "weight": float(rng.normal(0, 1))})
            layer.append(u)
        previous = layer
    for f in previous:
        synapses.append({"fromUUID": f, "toUUID": "out", "weight": float(rng.normal(0, 0.5))})
    return Creature.from_json({"input": inputs, "output": 1, "neurons": [
        *hidden, {"type": "output", "uuid": "out", "bias": 0.0, "squash": "TANH"}], "synapses": synapses})


def recording_of(c: Creature, observations: int) -> Recording:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (observations, c.input)).astype(np.float32)
    Y = np.tanh(X[:, :1] * X[:, 1:2] + np.sin(3 * X[:, 2:3])).astype(np.float32)
    values, acts, errors = record_activations(trainable_network(c), X, Y)
    nan = np.full((c.input, observations), np.nan, np.float32)
    return Recording([f"input-{i}" for i in range(c.input)] + [n.uuid for n in c.neurons],
                     np.arange(observations, dtype=np.uint32),
                     np.concatenate([X.T, acts.T]), np.concatenate([X.T, values.T]), np.concatenate([nan, errors.T]))


def bench_analysis(observations: list[int], neurons: list[int], compare_gpu: bool) -> None:
    print("analysis (focus 6, seed 1): seconds by observations x neurons")
    devices = ["cpu", "gpu"] if compare_gpu else [None]
    for n in neurons:
        c = layered(n)
        for obs in observations:
            rec = recording_of(c, obs)
            times = {}
            for device in devices:
                t0 = time.perf_counter()
                result = analyse_recording(rec, c, AnalysisOptions(random_seed=1, device=device))
                times[result.backend] = time.perf_counter() - t0
            cells = (c.input + n + 1) * obs
            line = "  ".join(f"{b} {t:7.2f}s" for b, t in times.items())
            ratio = f"  cupy {times['numpy'] / times['cupy']:.1f}x numpy" if len(times) == 2 else ""
            print(f"  {obs:7d} obs x {n + 1:4d} neurons ({cells / 1e6:6.1f} M cells): {line}{ratio}  "
                  f"[{len(result.add_synapses)} synapses, {len(result.add_neurons)} neurons, "
                  f"{len(result.squash_changes)} squash changes]", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4096 records; 10 k observations x 20, 100 neurons")
    p.add_argument("--records", type=int, default=20000)
    p.add_argument("--observations", default="10000,30000,100000")
    p.add_argument("--neurons", default="20,100,450")
    p.add_argument("--compare-gpu", action="store_true", help="run NumPy and CuPy on every size")
    args = p.parse_args()
    if args.quick:
        args.records, args.observations, args.neurons = 4096, "10000", "20,100"
    os.environ.setdefault("NEATAI_DISCOVERY_DEVICE", "auto")
    bench_recording(args.records)
    bench_analysis([int(x) for x in args.observations.split(",")], [int(x) - 1 for x in args.neurons.split(",")],
                   args.compare_gpu)


if __name__ == "__main__":
    main()
