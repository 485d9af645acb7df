# cython: language_level=3, boundscheck=False, wraparound=False
"""The creature model's byte forms, written in one compiled pass each: the serialized
`neatai.v1.Creature` (`encode`) and the structural hash (`structural_hash`).

`Creature.to_proto` parses `encode`'s bytes instead of building the message field by field
through the protobuf API (~11 µs for an XOR-sized creature, the largest client-side cost of an
Evaluate call; about a microsecond here). Field numbers follow protos/neatai/v1/creature.proto;
`tests/test_creature.py` round-trips every field. The hash's byte layout lives in
structural_hash.pyx, shared with the evaluator's wire reader.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport signbit
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove

from neatai.creature import PB_NEURON_TYPE, PB_SYNAPSE_TYPE

from neatai.structural_hash cimport HashNeuron, HashSynapse, structural_hash_of

cdef dict _NEURON_TYPE = PB_NEURON_TYPE
cdef dict _SYNAPSE_TYPE = PB_SYNAPSE_TYPE

# wire types
cdef enum:
    VARINT = 0
    FIXED64 = 1
    LEN = 2


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int _reserve(Buffer* b, Py_ssize_t more) except -1:
    cdef Py_ssize_t want = b.size + more
    cdef char* grown
    if want <= b.capacity:
        return 0
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


cdef int _varint(Buffer* b, unsigned long long v) except -1:
    _reserve(b, 10)
    b.size += _varint_into(b.data + b.size, v)
    return 0


cdef int _key(Buffer* b, int number, int wire) except -1:
    return _varint(b, (<unsigned long long>number << 3) | wire)


cdef int _int(Buffer* b, int number, long long v, bint always=False) except -1:
    # int32/enum/bool: negative numbers as 10-byte two's complement, as protobuf does
    if v != 0 or always:
        _key(b, number, VARINT)
        _varint(b, <unsigned long long>v)
    return 0


cdef int _double(Buffer* b, int number, double v, bint always=False) except -1:
    if v != 0.0 or always or signbit(v):  # -0.0 is not the default (protobuf compares bits)
        _key(b, number, FIXED64)
        _reserve(b, 8)
        memcpy(b.data + b.size, &v, 8)
        b.size += 8
    return 0


cdef int _text(Buffer* b, int number, str s, bint always=False) except -1:
    cdef Py_ssize_t n
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, &n)
    if n or always:
        _key(b, number, LEN)
        _varint(b, n)
        _reserve(b, n)
        memcpy(b.data + b.size, p, n)
        b.size += n
    return 0


cdef Py_ssize_t _open(Buffer* b, int number) except -1:
    """Start a length-delimited submessage; returns where its body starts (5 bytes kept for the length)."""
    _key(b, number, LEN)
    _reserve(b, 5)
    b.size += 5
    return b.size


cdef int _close(Buffer* b, Py_ssize_t start) except -1:
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
            _text(b, 1, t.name)
            _text(b, 2, t.value)
            _close(b, at)
    return 0


cdef int _snapshot(Buffer* b, dict m) except -1:
    # neatai.v1.MemeticSnapshot (Memetic adds ancestry = 5 on top)
    cdef Py_ssize_t at
    _int(b, 1, m.get("generation", 0))
    if m.get("score") is not None:
        _double(b, 2, m["score"], True)
    for w in m.get("weights", ()):
        at = _open(b, 3)
        _text(b, 1, w["fromUUID"])
        _text(b, 2, w["toUUID"])
        _double(b, 3, w["weight"])
        _close(b, at)
    for key, value in m.get("biases", {}).items():
        at = _open(b, 4)  # a map entry: key = 1, value = 2
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
        _int(&b, 1, creature.input)
        _int(&b, 2, creature.output)
        for n in creature.neurons:
            f = n.__dict__
            at = _open(&b, 3)
            _text(&b, 1, f["uuid"])
            _int(&b, 2, _NEURON_TYPE[f["type"]])
            _double(&b, 3, f["bias"])
            if f["squash"] is not None:
                _text(&b, 4, f["squash"], True)
            if f["frozen"] is not None:
                _int(&b, 5, f["frozen"], True)
            _tags(&b, 6, f["tags"])
            _close(&b, at)
        for s in creature.synapses:
            f = s.__dict__
            at = _open(&b, 4)
            _text(&b, 1, f["from_uuid"])
            _text(&b, 2, f["to_uuid"])
            _double(&b, 3, f["weight"])
            _int(&b, 4, _SYNAPSE_TYPE[f["type"]])
            if f["frozen"] is not None:
                _int(&b, 5, f["frozen"], True)
            _tags(&b, 6, f["tags"])
            _close(&b, at)
        if creature.semantic_version is not None:
            _text(&b, 5, creature.semantic_version, True)
        if creature.forward_only is not None:
            _int(&b, 6, creature.forward_only, True)
        _tags(&b, 7, creature.tags)
        if creature.memetic is not None:
            at = _open(&b, 8)
            _snapshot(&b, creature.memetic)
            for a in creature.memetic.get("ancestry", ()):
                inner = _open(&b, 5)
                _snapshot(&b, a)
                _close(&b, inner)
            _close(&b, at)
        if creature.hyperparameters is not None:
            from google.protobuf import struct_pb2

            st = struct_pb2.Struct()
            st.update(creature.hyperparameters)
            body = st.SerializeToString()
            at = _open(&b, 9)
            _reserve(&b, len(body))
            memcpy(b.data + b.size, <const char*>body, len(body))
            b.size += len(body)
            _close(&b, at)
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        free(b.data)


def structural_hash(creature) -> str:
    """`Creature.structural_hash`: neurons as listed, synapses sorted, tags and memetic ignored."""
    cdef list neurons = creature.neurons, synapses = creature.synapses
    cdef Py_ssize_t n = len(neurons), m = len(synapses), k
    cdef dict f
    cdef HashNeuron* hn = <HashNeuron*>malloc((n if n else 1) * sizeof(HashNeuron))
    cdef HashSynapse* hs = <HashSynapse*>malloc((m if m else 1) * sizeof(HashSynapse))
    try:
        if hn == NULL or hs == NULL:
            raise MemoryError()
        for k in range(n):
            f = neurons[k].__dict__
            hn[k].uuid = PyUnicode_AsUTF8AndSize(f["uuid"], &hn[k].uuid_len)
            hn[k].type = _NEURON_TYPE[f["type"]]
            hn[k].squash = PyUnicode_AsUTF8AndSize(neurons[k].squash_name, &hn[k].squash_len)
            hn[k].bias = f["bias"]
        for k in range(m):
            f = synapses[k].__dict__
            hs[k].frm = PyUnicode_AsUTF8AndSize(f["from_uuid"], &hs[k].frm_len)
            hs[k].to = PyUnicode_AsUTF8AndSize(f["to_uuid"], &hs[k].to_len)
            hs[k].type = _SYNAPSE_TYPE.get(f["type"], 0)
            hs[k].weight = f["weight"]
        return structural_hash_of(creature.input, creature.output, hn, n, hs, m)
    finally:
        free(hn)
        free(hs)
