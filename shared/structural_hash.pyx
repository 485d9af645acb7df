# cython: language_level=3, boundscheck=False, wraparound=False
"""The bytes `Creature.structural_hash` digests, in one definition for the creature model
(`hash_creature`) and the evaluator's wire reader (services/evaluator/wire.pyx): the
input and output counts (int32 LE); per neuron in order `uuid \0 type \0 squash \0` and the
bias (float64 LE); per synapse, sorted by (from, to, type code), `from \0 to \0 type-or-empty \0`
and the weight (float64 LE). blake2b-128. `hash_creature` reads a creature model object; the
wire reader fills the structs of structural_hash.pxd from message bytes.
"""
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcmp, memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
import hashlib as _hashlib

from neatai.creature import PB_NEURON_TYPE, PB_SYNAPSE_TYPE

cdef dict _NEURON_TYPE = PB_NEURON_TYPE
cdef dict _SYNAPSE_TYPE = PB_SYNAPSE_TYPE


cdef tuple _HASH_NEURON_TYPE = (b"", b"hidden", b"output", b"constant")
cdef tuple _HASH_SYNAPSE_TYPE = (b"", b"positive", b"negative", b"condition")


cdef inline int _span_cmp(const char* a, Py_ssize_t al, const char* b, Py_ssize_t bl) noexcept nogil:
    # Python orders str by code point, which UTF-8 bytes compared bytewise preserve
    cdef int c = memcmp(a, b, al if al < bl else bl)
    if c != 0:
        return c
    return (al > bl) - (al < bl)


cdef int _hash_order(const void* a, const void* b) noexcept nogil:
    cdef const HashSynapse* x = <const HashSynapse*>a
    cdef const HashSynapse* y = <const HashSynapse*>b
    cdef int c = _span_cmp(x.frm, x.frm_len, y.frm, y.frm_len)
    if c == 0:
        c = _span_cmp(x.to, x.to_len, y.to, y.to_len)
    if c == 0:
        c = (x.type > y.type) - (x.type < y.type)
    return c


cdef inline char* _hash_put(char* w, const char* s, Py_ssize_t n) noexcept:
    memcpy(w, s, n)
    w[n] = 0
    return w + n + 1


cdef str structural_hash_of(int n_in, int n_out, const HashNeuron* neurons, Py_ssize_t n,
                          HashSynapse* synapses, Py_ssize_t m):
    """The creature's structural hash (hex); sorts `synapses` in place."""
    cdef Py_ssize_t k, size = 8
    cdef bytes name
    cdef char* w
    qsort(synapses, m, sizeof(HashSynapse), _hash_order)
    for k in range(n):
        size += neurons[k].uuid_len + neurons[k].squash_len + 24  # type, three NULs, the bias
    for k in range(m):
        size += synapses[k].frm_len + synapses[k].to_len + 24
    cdef char* buf = <char*>malloc(size)
    if buf == NULL:
        raise MemoryError()
    try:
        memcpy(buf, &n_in, 4)
        memcpy(buf + 4, &n_out, 4)
        w = buf + 8
        for k in range(n):
            w = _hash_put(w, neurons[k].uuid, neurons[k].uuid_len)
            name = _HASH_NEURON_TYPE[neurons[k].type]
            w = _hash_put(w, PyBytes_AS_STRING(name), len(name))
            w = _hash_put(w, neurons[k].squash, neurons[k].squash_len)
            memcpy(w, &neurons[k].bias, 8)
            w += 8
        for k in range(m):
            w = _hash_put(w, synapses[k].frm, synapses[k].frm_len)
            w = _hash_put(w, synapses[k].to, synapses[k].to_len)
            name = _HASH_SYNAPSE_TYPE[synapses[k].type]
            w = _hash_put(w, PyBytes_AS_STRING(name), len(name))
            memcpy(w, &synapses[k].weight, 8)
            w += 8
        return _hashlib.blake2b(PyBytes_FromStringAndSize(buf, w - buf), digest_size=16).hexdigest()
    finally:
        free(buf)


def hash_creature(creature) -> str:
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
