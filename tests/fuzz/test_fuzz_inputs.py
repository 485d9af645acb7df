"""Property-based fuzzing of everything that parses outside input (Hypothesis; bounded here,
`make fuzz` for the long run): creature JSON and protobuf bytes (the compiled wire reader
included), dataset uploads in every format, run configs and checkpoint files. Inputs are the
seed corpus (tests/fuzz/corpus) mutated at the byte or the JSON level, and arbitrary bytes. The
property everywhere: a clear error of the documented type or a correct result, never another
exception, a hang or a server that stops answering."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, strategies as st

from neatai.creature import DEFAULT_LIMITS, Creature, CreatureError
from neatai.datasets import DatasetError, DatasetStore, decode_upload, xor
from neatai.evaluator import compile_network
from neatai.evaluator.wire_reader import read_creature
from neatai.evolver.checkpoint import CHECKPOINT, DATASET, CheckpointStore
from neatai.evolver.config import ConfigError, EvolverConfig
from neatai.evolver.runs import EvaluationFailed, RunManager
from neatai.v1 import creature_pb2, dataset_pb2, evolver_pb2

from mutations import corpus, inputs, json_values, mutated_json

CREATURE_JSON = corpus("creature-json")
CREATURE_PB = corpus("creature-pb")
ROW = np.full((1, 64), 0.5, dtype=np.float32)


def check_creature(creature: Creature) -> None:
    """A creature that loaded is usable: it round-trips and compiles and runs."""
    again = Creature.from_json(creature.to_json())
    assert again.to_json() == creature.to_json()
    assert Creature.from_proto(creature.to_proto()).to_json() == creature.to_json()
    out = compile_network(creature).activate(ROW[:, :creature.input])
    assert out.shape == (1, creature.output)


@given(inputs(CREATURE_JSON))
def test_creature_json_text(data):
    try:
        creature = Creature.from_json(data)
    except CreatureError as e:
        assert e.problems and all(p.path and p.message for p in e.problems)
        return
    check_creature(creature)


@given(st.sampled_from(CREATURE_JSON).flatmap(lambda seed: mutated_json(json.loads(seed))))
def test_creature_json_documents(document):
    try:
        creature = Creature.from_json(document)
    except CreatureError as e:
        assert e.problems
        return
    check_creature(creature)


@given(json_values)
def test_any_json_value_as_a_creature(value):
    try:
        check_creature(Creature.from_json(value))
    except CreatureError as e:
        assert e.problems


@given(inputs(CREATURE_PB))
def test_creature_protobuf_bytes_and_the_compiled_wire_reader(data):
    L = DEFAULT_LIMITS
    flat = read_creature(data, L.max_inputs, L.max_outputs, L.max_neurons, L.max_synapses)
    try:
        creature = Creature.from_proto(creature_pb2.Creature.FromString(data))
    except (DecodeError, CreatureError):
        # The wire reader takes only what the model loader accepts unchanged.
        assert flat is None
        return
    check_creature(creature)
    if flat is not None:  # the fast path and the loader agree on the network
        assert flat.structural_hash() == creature.structural_hash()


UPLOADS = {
    "csv": dict(format=dataset_pb2.DATASET_FORMAT_CSV),
    "parquet": dict(format=dataset_pb2.DATASET_FORMAT_PARQUET),
    "npz": dict(format=dataset_pb2.DATASET_FORMAT_NPZ),
    "records": dict(format=dataset_pb2.DATASET_FORMAT_FLOAT32_RECORDS, inputs=2, outputs=1),
}


def _decodes_or_refuses(header, data: bytes) -> None:
    try:
        dataset = decode_upload(header, data)
    except DatasetError as e:
        assert str(e)
        return
    assert dataset.X.dtype == np.float32 and dataset.X.flags.c_contiguous
    assert dataset.records == dataset.X.shape[0] == dataset.Y.shape[0] > 0
    assert np.isfinite(dataset.X).all() and np.isfinite(dataset.Y).all()


@pytest.mark.parametrize("kind", sorted(UPLOADS))
def test_every_seed_upload_decodes_or_is_refused(kind):
    """The corpus keeps the inputs fuzzing once crashed on (crash-*: a lone carriage return in a
    CSV field, a Parquet schema that is not UTF-8, an encrypted .npz member)."""
    header = dataset_pb2.DatasetHeader(**UPLOADS[kind])
    for data in corpus(kind):
        _decodes_or_refuses(header, data)


@pytest.mark.parametrize("kind", sorted(UPLOADS))
def test_dataset_uploads(kind):
    header = dataset_pb2.DatasetHeader(**UPLOADS[kind])

    @given(inputs(corpus(kind)))
    def upload(data):
        _decodes_or_refuses(header, data)

    upload()


CONFIGS = [json.loads(c) for c in corpus("config")]


@given(st.sampled_from(CONFIGS).flatmap(mutated_json))
def test_run_configs_as_json(document):
    try:
        config = EvolverConfig.from_dict(document)
    except ConfigError as e:
        assert e.problems
        return
    assert EvolverConfig.from_dict(config.to_dict()) == config


@given(st.binary(max_size=256) | st.sampled_from(CONFIGS).map(
    lambda d: EvolverConfig.from_dict(d).to_proto().SerializeToString()))
def test_run_configs_as_protobuf(data):
    try:
        message = evolver_pb2.RunConfig.FromString(data)
    except DecodeError:
        return
    try:
        config = EvolverConfig.from_proto(message)
    except ConfigError as e:
        assert e.problems
        return
    assert EvolverConfig.from_proto(config.to_proto()) == config


CHECKPOINT_SEED = corpus("checkpoint")[0]


def _failing_evaluate(*args, **kwargs):
    raise EvaluationFailed("no evaluator in this test")


@given(st.one_of(
    st.builds(lambda d: gzip.compress(json.dumps(d).encode()), mutated_json(json.loads(CHECKPOINT_SEED))),
    inputs([gzip.compress(CHECKPOINT_SEED)])))
def test_checkpoint_files(tmp_path_factory, data):
    """A damaged checkpoint never stops an evolver from starting: its run is skipped (logged) or
    restored; nothing else raises."""
    state = tmp_path_factory.mktemp("state")
    store = CheckpointStore(state)
    try:
        run_dir = store.run_dir("fuzzed")
        run_dir.mkdir(parents=True)
        (run_dir / CHECKPOINT).write_bytes(data)
        dataset = xor()
        np.savez(run_dir / DATASET, X=dataset.X, Y=dataset.Y, feature_names=np.array([], dtype=str),
                 target_names=np.array([], dtype=str), name=np.array(""))
        manager = RunManager(_failing_evaluate, DatasetStore(), store)
        resumed = manager.resume_all()
        assert resumed in ([], ["fuzzed"])
        manager.halt(wait_s=10)
        assert all(not r.thread or not r.thread.is_alive() for r in manager.list())
    finally:
        store.close()


# ---- what fuzzing found, pinned ----------------------------------------------------------------

XOR_JSON = json.loads(next(c for c in CREATURE_JSON if b'"input": 2' in c or b'"input":2' in c))


def test_an_integer_beyond_any_float_is_a_problem_not_an_overflow():
    doc = json.loads(json.dumps(XOR_JSON))
    doc["synapses"][0]["weight"] = 10 ** 400
    with pytest.raises(CreatureError, match=r"synapses\[0\]\.weight: must be finite, got an integer of 401 digits"):
        Creature.from_json(doc)


def test_integer_weights_load_as_the_floats_protobuf_carries():
    doc = json.loads(json.dumps(XOR_JSON))
    doc["synapses"][0]["weight"] = 1
    creature = Creature.from_json(doc)
    assert isinstance(creature.synapses[0].weight, float)
    assert Creature.from_proto(creature.to_proto()).to_json() == creature.to_json()


@pytest.mark.parametrize("options, path", [({"populationSize": None}, "populationSize"),
                                           ({"targetError": 10 ** 400}, "targetError")])
def test_null_and_huge_numbers_in_a_config_are_problems(options, path):
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict(options)
    assert [p.path for p in e.value.problems] == [path]


def test_a_checkpoint_without_its_evolution_is_skipped(tmp_path_factory):
    document = json.loads(CHECKPOINT_SEED)
    document["evolution"] = None
    test_checkpoint_files.hypothesis.inner_test(tmp_path_factory, gzip.compress(json.dumps(document).encode()))


def test_an_npz_member_declaring_more_than_it_holds_is_refused_before_numpy_allocates_it():
    import io
    import time
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 9, 1000)})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("X.npy", header.getvalue() + b"\0" * 64)
        with z.open("Y.npy", "w") as f:
            np.save(f, np.zeros((1, 1), dtype=np.float32))
    started = time.monotonic()
    with pytest.raises(DatasetError, match=r"X.npy declares a 1000000000x1000 float32 array \(4000000000000 bytes\)"):
        decode_upload(dataset_pb2.DatasetHeader(format=dataset_pb2.DATASET_FORMAT_NPZ), archive.getvalue())
    assert time.monotonic() - started < 1
