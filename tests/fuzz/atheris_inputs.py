"""Coverage-guided fuzzing (Atheris, libFuzzer) of the parsers of outside input, beside the
Hypothesis properties: `python tests/fuzz/atheris_inputs.py TARGET [libFuzzer flags] CORPUS...`
with TARGET one of creature-json, creature-pb, csv, parquet, npz, records, config, checkpoint
(`make fuzz` runs each on a copy of tests/fuzz/corpus/TARGET). Anything but the documented
error is a crash libFuzzer reports with the input that caused it."""
from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports(include=["neatai"]):
    from google.protobuf.message import DecodeError

    from neatai.creature import DEFAULT_LIMITS as L, Creature, CreatureError
    from neatai.datasets import DatasetError, decode_upload
    from neatai.evaluator.wire_reader import read_creature
    from neatai.evolver.config import ConfigError, EvolverConfig
    from neatai.evolver.evolution import Evolution
    from neatai.v1 import creature_pb2, dataset_pb2


def creature_json(data: bytes) -> None:
    try:
        Creature.from_json(data)
    except CreatureError:
        pass


def creature_pb(data: bytes) -> None:
    flat = read_creature(data, L.max_inputs, L.max_outputs, L.max_neurons, L.max_synapses)
    try:
        Creature.from_proto(creature_pb2.Creature.FromString(data))
    except (DecodeError, CreatureError):
        assert flat is None, "the wire reader took a creature the loader refuses"


def upload(fmt: int, **counts):
    header = dataset_pb2.DatasetHeader(format=fmt, **counts)

    def target(data: bytes) -> None:
        try:
            decode_upload(header, data)
        except DatasetError:
            pass
    return target


def config(data: bytes) -> None:
    try:
        EvolverConfig.from_dict(json.loads(data))
    except (ValueError, ConfigError):  # not JSON (ValueError), or not a config
        pass


def checkpoint(data: bytes) -> None:
    """What RunManager._restore reads from a checkpoint (gunzipped): its config and evolution state."""
    try:
        cp = json.loads(data)
        EvolverConfig.from_dict(cp["config"])
        Evolution.from_state(cp["evolution"])
    except Exception:  # noqa: BLE001 — any error: RunManager.resume_all logs and skips the run
        pass


TARGETS = {
    "creature-json": creature_json, "creature-pb": creature_pb,
    "csv": upload(dataset_pb2.DATASET_FORMAT_CSV), "parquet": upload(dataset_pb2.DATASET_FORMAT_PARQUET),
    "npz": upload(dataset_pb2.DATASET_FORMAT_NPZ),
    "records": upload(dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1),
    "config": config, "checkpoint": checkpoint,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer flags] CORPUS_DIR...")
    name = sys.argv.pop(1)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()
