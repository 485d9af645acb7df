# cython: language_level=3, boundscheck=False, wraparound=False
"""The protobuf wire form of the API's hot messages, written and read in compiled passes: one
module for the encoder and the readers, with every field number read from the generated
descriptors at import (protos/neatai/v1), so the code cannot drift from the protos.

* `encode(creature)`: the serialized `neatai.v1.Creature` of a creature model object, about a
  microsecond for an XOR-sized creature (the protobuf API builds it field by field in ~11 µs).
* `evaluate_request(head, creatures)`: a serialized `EvaluateRequest` from the request's other
  fields (a small message, serialized) and already encoded creatures; protobuf merges
  concatenated messages, so each creature is written once and never parsed on the client.
* `evaluate_response(errors, scores, compile_s, activate_s, hashes)`: the serialized
  `EvaluateResponse` of a scored batch, written from its columns (no message objects).
* `split_evaluate_request(data)`: the inverse of `evaluate_request` on the server: the creatures' spans in `data`
  and the other fields' bytes (which the protobuf runtime parses), so each creature is read
  once, straight from the request, by the evaluator's compiler (neatai.evaluator.wire).

The readers (`read_field`, ...) are inline functions in wire.pxd.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport signbit
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove

from neatai.creature import PB_NEURON_TYPE, PB_SYNAPSE_TYPE
from neatai.v1 import creature_pb2 as _creature_pb2
from neatai.v1 import evaluator_pb2 as _evaluator_pb2

cdef dict _NEURON_TYPE = PB_NEURON_TYPE
cdef dict _SYNAPSE_TYPE = PB_SYNAPSE_TYPE

cdef WireFields F


cdef void _numbers(void* target, descriptor, tuple names):
    """Field numbers of `names` (in struct order) from a message descriptor into an int struct."""
    cdef int* out = <int*>target
    cdef Py_ssize_t k
    for k in range(len(names)):
        out[k] = descriptor.fields_by_name[names[k]].number


_numbers(&F.creature, _creature_pb2.Creature.DESCRIPTOR, (
    "input", "output", "neurons", "synapses", "semantic_version", "forward_only", "tags", "memetic",
    "hyperparameters"))
_numbers(&F.neuron, _creature_pb2.Neuron.DESCRIPTOR, ("uuid", "type", "bias", "squash", "frozen", "tags"))
_numbers(&F.synapse, _creature_pb2.Synapse.DESCRIPTOR, ("from_uuid", "to_uuid", "weight", "type", "frozen", "tags"))
_numbers(&F.tag, _creature_pb2.Tag.DESCRIPTOR, ("name", "value"))
_numbers(&F.memetic, _creature_pb2.Memetic.DESCRIPTOR, ("generation", "score", "weights", "biases", "ancestry"))
_numbers(&F.memetic_weight, _creature_pb2.MemeticWeight.DESCRIPTOR, ("from_uuid", "to_uuid", "weight"))
_numbers(&F.evaluate, _evaluator_pb2.EvaluateRequest.DESCRIPTOR, ("creatures",))
_numbers(&F.result, _evaluator_pb2.EvaluateResponse.DESCRIPTOR, ("results",))
_numbers((<int*>&F.result) + 1, _evaluator_pb2.CreatureResult.DESCRIPTOR,
         ("error", "score", "compile_seconds", "activate_seconds", "structural_hash"))
for _name in ("generation", "score", "weights", "biases"):  # the snapshot shares Memetic's numbers
    assert (_creature_pb2.MemeticSnapshot.DESCRIPTOR.fields_by_name[_name].number
            == _creature_pb2.Memetic.DESCRIPTOR.fields_by_name[_name].number), _name


cdef const WireFields* wire_fields() noexcept nogil:
    return &F


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline int _reserve(Buffer* b, Py_ssize_t more) except -1:
    if b.size + more <= b.capacity:
        return 0
    return _grow(b, more)


cdef int _grow(Buffer* b, Py_ssize_t more) except -1:
    cdef Py_ssize_t want = b.size + more
    cdef char* grown
    want = max(want, 2 * b.capacity)
    grown = <char*>realloc(b.data, want)
    if grown == NULL:
        raise MemoryError()
    b.data, b.capacity = grown, want
    return 0


cdef inline Py_ssize_t _varint_into(char* out, unsigned long long v) noexcept:
    cdef Py_ssize_t n = 0
    while v >= 0x80:
        out[n] = <char>((v & 0x7F) | 0x80)
        v >>= 7
        n += 1
    out[n] = <char>v
    return n + 1


cdef inline int _varint(Buffer* b, unsigned long long v) except -1:
    _reserve(b, 10)
    b.size += _varint_into(b.data + b.size, v)
    return 0


cdef inline int _key(Buffer* b, int number, int wire) except -1:
    return _varint(b, (<unsigned long long>number << 3) | wire)


cdef inline int _int(Buffer* b, int number, long long v, bint always=False) except -1:
    # int32/enum/bool: negative numbers as 10-byte two's complement, as protobuf does
    if v != 0 or always:
        _key(b, number, VARINT)
        _varint(b, <unsigned long long>v)
    return 0


cdef inline int _double(Buffer* b, int number, double v, bint always=False) except -1:
    if v != 0.0 or always or signbit(v):  # -0.0 is not the default (protobuf compares bits)
        _key(b, number, FIXED64)
        _reserve(b, 8)
        memcpy(b.data + b.size, &v, 8)
        b.size += 8
    return 0


cdef inline int _text(Buffer* b, int number, str s, bint always=False) except -1:
    cdef Py_ssize_t n
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, &n)
    if n or always:
        _key(b, number, LEN)
        _varint(b, n)
        _reserve(b, n)
        memcpy(b.data + b.size, p, n)
        b.size += n
    return 0


cdef inline Py_ssize_t _open(Buffer* b, int number) except -1:
    """Start a length-delimited submessage; returns where its body starts (5 bytes kept for the length)."""
    _key(b, number, LEN)
    _reserve(b, 5)
    b.size += 5
    return b.size


cdef inline int _close(Buffer* b, Py_ssize_t start) except -1:
    """Write the submessage's length before its body, closing the gap left by `_open`."""
    cdef char length[10]
    cdef Py_ssize_t body = b.size - start
    cdef Py_ssize_t n = _varint_into(length, body)
    memmove(b.data + start - 5 + n, b.data + start, body)
    memcpy(b.data + start - 5, length, n)
    b.size -= 5 - n
    return 0


cdef int _tags(Buffer* b, int number, tags) except -1:
    cdef Py_ssize_t at
    if tags:
        for t in tags:
            at = _open(b, number)
            _text(b, F.tag.name, t.name)
            _text(b, F.tag.value, t.value)
            _close(b, at)
    return 0


cdef int _snapshot(Buffer* b, dict m) except -1:
    # neatai.v1.MemeticSnapshot (Memetic adds ancestry on top, with the same numbers below it)
    cdef Py_ssize_t at
    _int(b, F.memetic.generation, m.get("generation", 0))
    if m.get("score") is not None:
        _double(b, F.memetic.score, m["score"], True)
    for w in m.get("weights", ()):
        at = _open(b, F.memetic.weights)
        _text(b, F.memetic_weight.from_uuid, w["fromUUID"])
        _text(b, F.memetic_weight.to_uuid, w["toUUID"])
        _double(b, F.memetic_weight.weight, w["weight"])
        _close(b, at)
    for key, value in m.get("biases", {}).items():
        at = _open(b, F.memetic.biases)  # a map entry: key = 1, value = 2 (fixed by protobuf)
        _text(b, 1, key)
        _double(b, 2, value)
        _close(b, at)
    return 0


def encode(creature) -> bytes:
    """The serialized `neatai.v1.Creature` of a creature model object."""
    cdef Buffer b
    cdef Py_ssize_t at, inner
    cdef dict f
    b.data, b.size, b.capacity = <char*>malloc(256), 0, 256
    if b.data == NULL:
        raise MemoryError()
    try:
        _int(&b, F.creature.input, creature.input)
        _int(&b, F.creature.output, creature.output)
        for n in creature.neurons:
            f = n.__dict__
            at = _open(&b, F.creature.neurons)
            _text(&b, F.neuron.uuid, f["uuid"])
            _int(&b, F.neuron.type, _NEURON_TYPE[f["type"]])
            _double(&b, F.neuron.bias, f["bias"])
            if f["squash"] is not None:
                _text(&b, F.neuron.squash, f["squash"], True)
            if f["frozen"] is not None:
                _int(&b, F.neuron.frozen, f["frozen"], True)
            _tags(&b, F.neuron.tags, f["tags"])
            _close(&b, at)
        for s in creature.synapses:
            f = s.__dict__
            at = _open(&b, F.creature.synapses)
            _text(&b, F.synapse.from_uuid, f["from_uuid"])
            _text(&b, F.synapse.to_uuid, f["to_uuid"])
            _double(&b, F.synapse.weight, f["weight"])
            _int(&b, F.synapse.type, _SYNAPSE_TYPE[f["type"]])
            if f["frozen"] is not None:
                _int(&b, F.synapse.frozen, f["frozen"], True)
            _tags(&b, F.synapse.tags, f["tags"])
            _close(&b, at)
        if creature.semantic_version is not None:
            _text(&b, F.creature.semantic_version, creature.semantic_version, True)
        if creature.forward_only is not None:
            _int(&b, F.creature.forward_only, creature.forward_only, True)
        _tags(&b, F.creature.tags, creature.tags)
        if creature.memetic is not None:
            at = _open(&b, F.creature.memetic)
            _snapshot(&b, creature.memetic)
            for a in creature.memetic.get("ancestry", ()):
                inner = _open(&b, F.memetic.ancestry)
                _snapshot(&b, a)
                _close(&b, inner)
            _close(&b, at)
        if creature.hyperparameters is not None:
            from google.protobuf import struct_pb2

            st = struct_pb2.Struct()
            st.update(creature.hyperparameters)
            body = st.SerializeToString()
            at = _open(&b, F.creature.hyperparameters)
            _reserve(&b, len(body))
            memcpy(b.data + b.size, <const char*>body, len(body))
            b.size += len(body)
            _close(&b, at)
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        free(b.data)


def evaluate_request(bytes head, creatures) -> bytes:
    """A serialized `EvaluateRequest`: `head` (the request without creatures, serialized)
    followed by each encoded creature as one `creatures` element."""
    cdef Buffer b
    cdef bytes c
    b.data, b.size, b.capacity = <char*>malloc(256), 0, 256
    if b.data == NULL:
        raise MemoryError()
    try:
        _reserve(&b, len(head))
        memcpy(b.data, PyBytes_AS_STRING(head), len(head))
        b.size = len(head)
        for c in creatures:
            _key(&b, F.evaluate.creatures, LEN)
            _varint(&b, len(c))
            _reserve(&b, len(c))
            memcpy(b.data + b.size, PyBytes_AS_STRING(c), len(c))
            b.size += len(c)
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        free(b.data)


def split_evaluate_request(bytes data):
    """(other fields' bytes, [(offset, length) of each creature in `data`]) of a serialized
    `EvaluateRequest`; None when the bytes are not a well-formed message."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = len(data), at = 0, start
    cdef int number, wire
    cdef unsigned long long value
    cdef Span span
    cdef list spans = [], rest = []
    cdef Py_ssize_t kept = 0  # start of the run of non-creature fields being collected
    while at < end:
        start = at
        if not read_field(p, end, &at, &number, &wire, &value, &span):
            return None
        if number == F.evaluate.creatures and wire == LEN:
            if start > kept:
                rest.append(data[kept:start])
            spans.append((span.at, span.len))
            kept = at
    if kept == 0:
        return data, spans
    rest.append(data[kept:end])
    return b"".join(rest), spans


def evaluate_response(const double[::1] errors, const double[::1] scores, const double[::1] compile_seconds,
                      const double[::1] activate_seconds, list hashes=None) -> bytes:
    """A serialized `EvaluateResponse`: one `CreatureResult` per row of the columns (with its
    structural hash when `hashes` is given)."""
    cdef Py_ssize_t n = errors.shape[0], k, at
    if not (scores.shape[0] == compile_seconds.shape[0] == activate_seconds.shape[0] == n) or \
            (hashes is not None and len(hashes) != n):
        raise ValueError("the result columns differ in length")
    cdef Buffer b
    b.data, b.size, b.capacity = <char*>malloc(64 + 48 * n), 0, 64 + 48 * n
    if b.data == NULL:
        raise MemoryError()
    try:
        for k in range(n):
            at = _open(&b, F.result.results)
            _double(&b, F.result.error, errors[k])
            _double(&b, F.result.score, scores[k])
            _double(&b, F.result.compile_seconds, compile_seconds[k])
            _double(&b, F.result.activate_seconds, activate_seconds[k])
            if hashes is not None and hashes[k]:
                _text(&b, F.result.structural_hash, hashes[k])
            _close(&b, at)
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        free(b.data)
