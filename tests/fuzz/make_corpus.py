"""Writes the seed corpus the fuzz properties mutate (tests/fuzz/corpus, committed): valid
creature JSON and protobuf bytes, dataset uploads in every format, run configs and a checkpoint.
Run again (`python tests/fuzz/make_corpus.py`) when a format changes."""
from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
FIXTURES = ROOT / "tests" / "fixtures" / "neat-ai"


def main() -> None:
    from neatai.creature import Creature
    from neatai.datasets import Dataset, xor
    from neatai.evolver.checkpoint import CHECKPOINT, CheckpointStore
    from neatai.evolver.config import EvolverConfig
    from neatai.evolver.runs import RunManager
    from neatai.datasets import DatasetStore

    shutil.rmtree(CORPUS, ignore_errors=True)
    kinds = ("creature-json", "creature-pb", "csv", "parquet", "npz", "records", "config", "checkpoint")
    for kind in kinds:
        (CORPUS / kind).mkdir(parents=True)
    for name in ("XOR", "NARX", "SHIFT", "breed-mother-1"):
        text = (FIXTURES / f"{name}.json").read_text()
        (CORPUS / "creature-json" / f"{name}.json").write_text(text)
        (CORPUS / "creature-pb" / f"{name}.pb").write_bytes(Creature.from_json(text).to_bytes())

    rng = np.random.default_rng(0)
    X, Y = rng.random((6, 3), dtype=np.float32), (rng.random((6, 1)) > 0.5).astype(np.float32)
    (CORPUS / "csv" / "small.csv").write_text("a,b,c,y\n" + "".join(
        f"{x[0]:.3f},{x[1]:.3f},{x[2]:.3f},{int(y[0])}\n" for x, y in zip(X, Y)))
    (CORPUS / "csv" / "xor.csv").write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "y": Y[:, 0]}), sink)
    (CORPUS / "parquet" / "small.parquet").write_bytes(sink.getvalue())
    sink = io.BytesIO()
    np.savez(sink, X=X, Y=Y)
    (CORPUS / "npz" / "small.npz").write_bytes(sink.getvalue())
    (CORPUS / "records" / "xor-2-1.bin").write_bytes(xor().to_records_bytes())
    (CORPUS / "records" / "small-3-1.bin").write_bytes(Dataset(X, Y).to_records_bytes())

    (CORPUS / "config" / "default.json").write_text(json.dumps(EvolverConfig().to_dict()))
    (CORPUS / "config" / "memetic.json").write_text(json.dumps(EvolverConfig(
        population_size=30, elitism=3, memetic=True, iterations=5).to_dict()))

    # A real checkpoint: two generations of a run scored by a stand-in evaluate step.
    state = CORPUS / "state"
    store = CheckpointStore(state)

    def evaluate(dataset, creatures, **_):
        return [float(len(c.synapses)) for c in creatures], [-float(len(c.synapses)) for c in creatures]

    manager = RunManager(evaluate, DatasetStore(), store)
    datasets = manager.datasets
    dataset_id, _ = datasets.register(xor())
    run = manager.start_run(EvolverConfig(population_size=8, iterations=2, seed=1), dataset_id, "seed-run")
    run.thread.join(30)
    manager.close()
    saved = (store.run_dir("seed-run") / CHECKPOINT).read_bytes()
    (CORPUS / "checkpoint" / "checkpoint.json").write_bytes(gzip.decompress(saved))
    store.close()
    shutil.rmtree(state)
    print(f"wrote {sum(1 for _ in CORPUS.rglob('*') if _.is_file())} seed inputs to {CORPUS}", file=sys.stderr)


if __name__ == "__main__":
    main()
