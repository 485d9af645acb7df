"""The Evaluate fast path: a `neatai.v1.Creature` message read from its wire form straight into
the compiled form. It must agree with the model loader (`Creature.from_proto`) on every creature
it accepts, hand the loader everything it would rewrite, and accept nothing invalid."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from neatai.creature import DEFAULT_LIMITS, Creature, CreatureError, Limits
from neatai.evaluator import FlatCreature, read_creature, score
from neatai.v1 import creature_pb2 as pb

from reference_activation import random_creature as random_graph
from test_creature import random_creature as random_json

NEURON = {"hidden": pb.NEURON_TYPE_HIDDEN, "output": pb.NEURON_TYPE_OUTPUT, "constant": pb.NEURON_TYPE_CONSTANT}
SYNAPSE = {None: 0, "positive": pb.SYNAPSE_TYPE_POSITIVE, "negative": pb.SYNAPSE_TYPE_NEGATIVE,
           "condition": pb.SYNAPSE_TYPE_CONDITION}


def read(msg, limits: Limits = DEFAULT_LIMITS) -> FlatCreature | None:
    return read_creature(msg.SerializeToString(), limits.max_inputs, limits.max_outputs, limits.max_neurons,
                         limits.max_synapses)


def message(d: dict) -> pb.Creature:
    """A message with exactly the given content (no normalisation, no validation)."""
    msg = pb.Creature(input=d["input"], output=d["output"])
    for n in d["neurons"]:
        m = msg.neurons.add(uuid=n["uuid"], type=NEURON[n["type"]], bias=n["bias"])
        if "squash" in n:
            m.squash = n["squash"]
    for s in d["synapses"]:
        msg.synapses.add(from_uuid=s["fromUUID"], to_uuid=s["toUUID"], weight=s["weight"], type=SYNAPSE[s.get("type")])
    if "forwardOnly" in d:
        msg.forward_only = d["forwardOnly"]
    if "semanticVersion" in d:
        msg.semantic_version = d["semanticVersion"]
    return msg


def assert_agrees(msg: pb.Creature) -> FlatCreature:
    flat = read(msg)
    assert flat is not None, "the fast path refused a creature it should take"
    model = FlatCreature.of(Creature.from_proto(msg))
    assert (flat.index, flat.params) == (model.index, model.params)
    assert flat.structural_hash() == model.structural_hash()
    assert sorted(flat.magnitudes) == sorted(model.magnitudes)
    assert (flat.input, flat.output, flat.n_neurons, flat.n_synapses, flat.hidden_count, flat.semantic_version) == \
           (model.input, model.output, model.n_neurons, model.n_synapses, model.hidden_count, model.semantic_version)
    assert score(flat, 0.25) == score(model, 0.25)
    return flat


BASE = {
    "input": 2, "output": 1,
    "neurons": [
        {"type": "constant", "uuid": "k", "bias": 0.5},
        {"type": "hidden", "uuid": "h1", "bias": -0.25, "squash": "TANH"},
        {"type": "hidden", "uuid": "h2", "bias": 0.125, "squash": "IF"},
        {"type": "output", "uuid": "out", "bias": 0.0, "squash": "LOGISTIC"},
    ],
    "synapses": [
        {"fromUUID": "input-0", "toUUID": "h1", "weight": 1.5},
        {"fromUUID": "k", "toUUID": "h2", "weight": 1.0, "type": "condition"},
        {"fromUUID": "input-1", "toUUID": "h2", "weight": -2.0, "type": "positive"},
        {"fromUUID": "h1", "toUUID": "h2", "weight": 0.5, "type": "negative"},
        {"fromUUID": "h2", "toUUID": "out", "weight": 0.75},
        {"fromUUID": "h1", "toUUID": "out", "weight": -0.5},
    ],
}


def test_agrees_with_the_loader_on_random_forward_only_and_recurrent_creatures():
    rng = random.Random(11)
    for _ in range(200):
        assert_agrees(Creature.from_json(random_json(rng)).to_proto())
    nrng = np.random.default_rng(5)
    taken = 0
    for k in range(60):
        creature = random_graph(nrng, n_in=1 + k % 4, n_hidden=k % 15, n_out=1 + k % 3, recurrent=k % 2 == 1)
        if hidden_back_synapse(creature):  # a cycle among hidden neurons: the loader decides the order
            assert read(creature.to_proto()) is None
        else:
            assert_agrees(creature.to_proto())
            taken += 1
    assert taken >= 40  # all 30 forward-only, and the recurrent ones without a hidden back synapse


def hidden_back_synapse(c: Creature) -> bool:
    index, body = c.uuid_index(), range(c.input, c.input + len(c.neurons) - c.output)
    return any(index[s.to_uuid] < index[s.from_uuid] and index[s.from_uuid] in body and index[s.to_uuid] in body
               for s in c.synapses)


def test_outputs_named_by_their_file_uuid_are_renamed_as_the_loader_does():
    flat = assert_agrees(message(BASE))
    assert flat.structural_hash() == Creature.from_json(BASE).structural_hash()


def test_legacy_squash_aliases_optional_fields_and_negative_zero():
    d = {**BASE, "neurons": [dict(n) for n in BASE["neurons"]], "forwardOnly": True, "semanticVersion": "3.1.0"}
    d["neurons"][1].update(squash="RELU", bias=-0.0)
    msg = message(d)
    msg.neurons[1].frozen = True
    msg.neurons[1].tags.add(name="note", value="kept by the model only")
    msg.synapses[0].weight = -0.0
    msg.tags.add(name="error", value="0.1")
    flat = assert_agrees(msg)
    assert flat.semantic_version == "3.1.0"


def test_recurrent_synapses_are_accepted_unless_the_creature_is_declared_forward_only():
    d = {**BASE, "synapses": BASE["synapses"] + [{"fromUUID": "out", "toUUID": "h1", "weight": 0.1},
                                                 {"fromUUID": "h1", "toUUID": "h1", "weight": 0.2}]}
    assert_agrees(message(d))
    assert read(message({**d, "forwardOnly": True})) is None


def test_every_fixture_that_needs_no_rewriting_takes_the_fast_path(fixtures_dir):
    taken = []
    for path in sorted(fixtures_dir.glob("*.json")):
        msg = Creature.from_json(path.read_text()).to_proto()
        msg.ClearField("memetic")  # the loader validates memetic data; Evaluate does not use it
        msg.ClearField("hyperparameters")
        assert_agrees(msg)
        taken.append(path.name)
    assert {"XOR.json", "large.json", "NARX.json"} <= set(taken)


def _hidden_after_output(d):
    d["neurons"].append(d["neurons"].pop(1))


def _unsorted(d):
    d["neurons"][1], d["neurons"][2] = d["neurons"][2], d["neurons"][1]


# Valid creatures the loader rewrites (or validates parts of that Evaluate does not read):
# the fast path hands them over.
REWRITTEN = [
    ("hidden neurons out of dependency order", _unsorted, None),
    ("a hidden neuron listed after an output", _hidden_after_output, None),
    ("memetic data", None, lambda m: setattr(m.memetic, "generation", 3)),
    ("hyperparameters", None, lambda m: m.hyperparameters.update({"learningRate": 0.1})),
    ("a cycle among hidden neurons (recurrent, kept in file order)", None,
     lambda m: m.synapses.add(from_uuid="h2", to_uuid="h1", weight=1.0)),
]


@pytest.mark.parametrize("case,edit,edit_msg", REWRITTEN, ids=[c[0] for c in REWRITTEN])
def test_creatures_the_loader_rewrites_go_to_the_loader(case, edit, edit_msg):
    d = {**BASE, "neurons": [dict(n) for n in BASE["neurons"]], "synapses": [dict(s) for s in BASE["synapses"]]}
    if edit:
        edit(d)
    msg = message(d)
    if edit_msg:
        edit_msg(msg)
    assert read(msg) is None
    Creature.from_proto(msg)  # valid all the same


def _set_neuron(k, **fields):
    def edit(m):
        for key, value in fields.items():
            setattr(m.neurons[k], key, value)
    return edit


def _set_synapse(i, **fields):
    def edit(m):
        for key, value in fields.items():
            setattr(m.synapses[i], key, value)
    return edit


def _add_synapse(src, dst, weight=1.0, kind=0):
    return lambda m: m.synapses.add(from_uuid=src, to_uuid=dst, weight=weight, type=kind)


INVALID = [
    ("unknown squash", _set_neuron(1, squash="FOO")),
    ("empty squash", _set_neuron(1, squash="")),
    ("squash on a constant", _set_neuron(0, squash="TANH")),
    ("unknown neuron type", _set_neuron(1, type=7)),
    ("neuron type unspecified", _set_neuron(1, type=0)),
    ("empty uuid", _set_neuron(1, uuid="")),
    ("reserved uuid", _set_neuron(1, uuid="input-9")),
    ("duplicate uuid", _set_neuron(2, uuid="h1")),
    ("non-finite bias", _set_neuron(1, bias=math.nan)),
    ("infinite weight", _set_synapse(0, weight=math.inf)),
    ("unknown synapse type", _set_synapse(0, type=9)),
    ("unknown source", _set_synapse(0, from_uuid="h9")),
    ("input beyond the creature's inputs", _set_synapse(0, from_uuid="input-2")),
    ("non-canonical input name", _set_synapse(0, from_uuid="input-01")),
    ("output beyond the creature's outputs", _set_synapse(4, to_uuid="output-1")),
    ("unknown target", _set_synapse(0, to_uuid="nowhere")),
    ("empty source", _set_synapse(0, from_uuid="")),
    ("synapse into an input", _add_synapse("h1", "input-0")),
    ("synapse into a constant", _add_synapse("input-0", "k")),
    ("duplicate synapse", _add_synapse("input-0", "h1", 0.3)),
    ("duplicate synapse through the output's file uuid", lambda m: (_add_synapse("h2", "output-0")(m))),
    ("IF without its condition", _set_synapse(1, type=pb.SYNAPSE_TYPE_POSITIVE)),
    ("IF without any inward synapse", lambda m: [m.synapses.pop(1) for _ in range(3)]),
    ("output count mismatch", lambda m: setattr(m, "output", 2)),
    ("no inputs", lambda m: setattr(m, "input", 0)),
    ("negative outputs", lambda m: setattr(m, "output", -1)),
    ("self synapse in forward-only", lambda m: (setattr(m, "forward_only", True), _add_synapse("h1", "h1")(m))),
    ("back synapse from an output in forward-only",
     lambda m: (setattr(m, "forward_only", True), _add_synapse("output-0", "h1")(m))),
]


@pytest.mark.parametrize("case,edit", INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_creature_is_never_taken_and_the_loader_words_it(case, edit):
    msg = message(BASE)
    edit(msg)
    assert read(msg) is None
    with pytest.raises(CreatureError):
        Creature.from_proto(msg)


def test_size_limits_send_the_creature_to_the_loader():
    msg = message(BASE)
    assert read(msg, Limits(max_neurons=3)) is None
    assert read(msg, Limits(max_synapses=5)) is None
    assert read(msg, Limits(max_inputs=1)) is None
    assert read(msg, Limits(max_neurons=4, max_synapses=6, max_inputs=2, max_outputs=1)) is not None


@pytest.mark.parametrize("cut", [1, 5, 17, 40, 90])
def test_truncated_or_garbage_bytes_are_refused_or_read_as_the_message_they_are(cut):
    data = message(BASE).SerializeToString()
    bad_text = data.replace(b"h1", b"\xc3(")  # a uuid that is not UTF-8
    for chunk in (data[:-cut], data[cut:], b"\xff" * cut, bytes(range(cut)), bad_text):
        if read_creature(chunk, 10, 10, 100, 100) is not None:  # a shorter valid message
            assert_agrees(pb.Creature.FromString(chunk))


# ---- the request, written and split without parsing the creatures --------------------------

from neatai.v1 import evaluator_pb2  # noqa: E402
from neatai.wire import encode, evaluate_request, split_evaluate_request  # noqa: E402


def some_creatures(k: int = 5) -> list[Creature]:
    rng = random.Random(7)
    return [Creature.from_json(random_json(rng)) for _ in range(k)]


def test_the_written_request_is_the_message_protobuf_writes():
    creatures = some_creatures()
    head = evaluator_pb2.EvaluateRequest(dataset_id="sha256:ab", cost=evaluator_pb2.COST_FUNCTION_MAE,
                                         cost_of_growth=0.5, feedback_loop=True)
    data = evaluate_request(head.SerializeToString(), [encode(c) for c in creatures])
    parsed = evaluator_pb2.EvaluateRequest.FromString(data)
    expected = evaluator_pb2.EvaluateRequest(dataset_id="sha256:ab", cost=evaluator_pb2.COST_FUNCTION_MAE,
                                             cost_of_growth=0.5, feedback_loop=True,
                                             creatures=[c.to_proto() for c in creatures])
    assert parsed == expected


def test_split_finds_every_creature_and_keeps_the_other_fields_wherever_they_stand():
    creatures = some_creatures()
    full = evaluator_pb2.EvaluateRequest(dataset_id="d", creatures=[c.to_proto() for c in creatures],
                                         fitness_sample_rate=0.5)
    # fields after the creatures too: protobuf merges concatenated messages
    data = full.SerializeToString() + evaluator_pb2.EvaluateRequest(feedback_loop=True).SerializeToString()
    rest, spans = split_evaluate_request(data)
    other = evaluator_pb2.EvaluateRequest.FromString(rest)
    assert (other.dataset_id, other.fitness_sample_rate, other.feedback_loop, len(other.creatures)) == ("d", 0.5, True, 0)
    assert [data[a:a + n] for a, n in spans] == [encode(c) for c in creatures]
    for (a, n), c in zip(spans, creatures):
        flat = read_creature(data, 1000, 1000, 10 ** 6, 10 ** 6, a, n)
        assert (flat.index, flat.params) == (FlatCreature.of(c).index, FlatCreature.of(c).params)


def test_split_refuses_malformed_bytes():
    good = evaluator_pb2.EvaluateRequest(dataset_id="d", creatures=[some_creatures(1)[0].to_proto()]).SerializeToString()
    assert split_evaluate_request(good[:-3]) is None
    assert split_evaluate_request(b"\x0a\xff") is None
    assert split_evaluate_request(b"") == (b"", [])


def test_a_span_outside_the_bytes_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        read_creature(b"\x08\x02", 10, 10, 10, 10, 1, 5)


def test_the_hash_of_a_read_creature_is_computed_when_asked_and_matches_the_models():
    for c in some_creatures(10):
        flat = read_creature(encode(c), 1000, 1000, 10 ** 6, 10 ** 6)
        if flat is not None:
            assert flat.structural_hash() == c.structural_hash()
            assert flat.structural_hash() is flat.structural_hash()  # computed once


def test_the_written_response_is_the_message_protobuf_writes():
    from neatai.wire import evaluate_response
    columns = [np.array(v, dtype=np.float64) for v in ([0.25, 0.0, 1e300], [0.75, -0.0, -1.5], [1e-6, 0, 0],
                                                         [2e-6, 3e-6, 0])]
    for hashes in (None, ["ab" * 16, "", "cd" * 16]):
        got = evaluator_pb2.EvaluateResponse.FromString(evaluate_response(*columns, hashes))
        want = evaluator_pb2.EvaluateResponse(results=[
            evaluator_pb2.CreatureResult(error=e, score=s, compile_seconds=c, activate_seconds=a,
                                         structural_hash=(hashes or [""] * 3)[k])
            for k, (e, s, c, a) in enumerate(zip(*columns))])
        assert got == want
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_response(columns[0], columns[1][:2], columns[2], columns[3])


# ---- damaged bytes: the compiled readers answer None (or agree with protobuf), never crash -----

def damaged(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0 and b:        # flip a bit
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:            # truncate
        del b[rng.randrange(len(b) + 1):]
    elif kind == 2:            # insert random bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
    elif kind == 3 and b:      # overwrite with a large varint (lengths, counts)
        i = rng.randrange(len(b))
        b[i:i + 1] = b"\xff\xff\xff\xff\x0f"
    elif b:                    # duplicate a slice (repeated fields, duplicate uuids)
        i = rng.randrange(len(b))
        b[i:i] = b[i:i + rng.randrange(1, 40)]
    return bytes(b)


def test_damaged_creature_bytes_are_refused_or_read_as_protobuf_and_the_loader_read_them():
    rng = random.Random(11)
    bases = [encode(c) for c in some_creatures(8)]
    read_back = 0
    for k in range(4000):
        data = damaged(rng.choice(bases), rng)
        flat = read_creature(data, 100, 100, 10_000, 10_000)
        if flat is None:
            continue
        msg = pb.Creature.FromString(data)  # what the fast path took must be a valid message...
        model = FlatCreature.of(Creature.from_proto(msg))  # ...that the loader takes unchanged
        assert (flat.index, flat.params) == (model.index, model.params)
        assert flat.structural_hash() == model.structural_hash()
        read_back += 1
    assert read_back > 100  # the damage left many creatures valid; they were read and checked


def test_damaged_requests_split_or_are_refused():
    rng = random.Random(12)
    base = evaluator_pb2.EvaluateRequest(dataset_id="d", creatures=[c.to_proto() for c in some_creatures(3)],
                                         cost_of_growth=0.5).SerializeToString()
    for k in range(3000):
        data = damaged(base, rng)
        split = split_evaluate_request(data)
        if split is None:
            continue
        rest, spans = split
        assert all(0 <= a and a + n <= len(data) for a, n in spans)
        for a, n in spans:
            read_creature(data, 100, 100, 10_000, 10_000, a, n)
