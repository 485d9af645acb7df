# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The RPC fast path: a `neatai.v1.Creature` read from its protobuf wire form straight into the
compiled form — the kernel keys, the structural hash and what the score needs — without
building the creature model. It accepts only what `Creature.from_proto` accepts unchanged
(neurons already in dependency order, outputs last, no memetic or hyperparameters); for
anything else it answers None and the caller loads the message with `Creature.from_proto`,
which stays the one place that words validation problems. The tests check that both paths
agree on every creature the fast path accepts and that it accepts none that is invalid.
"""
from libc.math cimport isfinite
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeUTF8

from neatai import squash as _squash
from neatai.evaluator.compiled import flatten

from neatai.evaluator.compiled cimport (Edge, Keys, OP_CONST, OP_IDENTITY, OP_IF, ROLE_POSITIVE, finish_keys,
                                        input_index, new_keys)
from neatai.structural_hash cimport HashNeuron, HashSynapse, structural_hash_of

cdef dict _SQUASH_ID_OF = {name: _squash.squash_id(name) for name in (*_squash.BY_NAME, *_squash.ALIASES)
                           if _squash.canonical(name) is not None}
cdef list _SQUASH_NAME = [None] * 64  # canonical name by squash id, as bytes
for _s in _squash.SQUASHES:
    _SQUASH_NAME[_s.id] = _s.name.encode()
cdef list _OUTPUT_NAMES = []  # b"output-k", grown on demand
cdef dict _OUTPUT_OF = {}     # "output-k" -> k


cdef void _grow_output_names(Py_ssize_t n_out):
    cdef Py_ssize_t k
    for k in range(len(_OUTPUT_NAMES), n_out):
        _OUTPUT_OF[f"output-{k}"] = k
        _OUTPUT_NAMES.append(f"output-{k}".encode())

cdef enum:
    NEURON_HIDDEN = 1
    NEURON_OUTPUT = 2
    NEURON_CONSTANT = 3


cdef class FlatCreature:
    """A creature in the form the evaluator needs: input/output counts, the compiled keys
    (`flatten`'s index and parameters), the structural hash and the score's inputs."""
    cdef readonly int input, output, n_neurons, n_synapses, hidden_count
    cdef readonly bytes index, params
    cdef readonly list magnitudes  # |weight| of every synapse and |bias| of every neuron
    cdef readonly object semantic_version
    cdef object _hash
    cdef object _creature

    @staticmethod
    def of(creature):
        """From a creature model object (its structural hash is computed when asked for)."""
        cdef FlatCreature f = FlatCreature.__new__(FlatCreature)
        f.index, f.params = flatten(creature)
        f.input, f.output = creature.input, creature.output
        f.n_neurons, f.n_synapses = len(creature.neurons), len(creature.synapses)
        f.hidden_count = creature.hidden_count
        f.magnitudes = [abs(s.weight) for s in creature.synapses] + [abs(n.bias) for n in creature.neurons]
        f.semantic_version = creature.semantic_version
        f._creature = creature
        return f

    def structural_hash(self) -> str:
        if self._hash is None:
            self._hash = self._creature.structural_hash()
        return self._hash

    @property
    def size(self) -> int:
        return self.n_neurons + self.n_synapses


cdef struct Span:
    Py_ssize_t at
    Py_ssize_t len


cdef inline bint _varint(const unsigned char* p, Py_ssize_t end, Py_ssize_t* at,
                         unsigned long long* out) noexcept nogil:
    cdef unsigned long long v = 0
    cdef int shift = 0
    cdef unsigned char b
    while at[0] < end and shift < 64:
        b = p[at[0]]
        at[0] += 1
        v |= (<unsigned long long>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = v
            return True
        shift += 7
    return False


cdef inline bint _field(const unsigned char* p, Py_ssize_t end, Py_ssize_t* at, int* number, int* wire,
                        unsigned long long* value, Span* span) noexcept nogil:
    """Read one field: a varint or fixed64 into `value`, a length-delimited one into `span`;
    fixed32 is skipped. False on malformed input or a group."""
    cdef unsigned long long key
    if not _varint(p, end, at, &key):
        return False
    number[0] = <int>(key >> 3)
    wire[0] = <int>(key & 7)
    if wire[0] == 0:
        return _varint(p, end, at, value)
    if wire[0] == 1:
        if end - at[0] < 8:
            return False
        memcpy(value, p + at[0], 8)
        at[0] += 8
        return True
    if wire[0] == 2:
        if not _varint(p, end, at, value) or value[0] > <unsigned long long>(end - at[0]):
            return False
        span.at, span.len = at[0], <Py_ssize_t>value[0]
        at[0] += span.len
        return True
    if wire[0] == 5:
        if end - at[0] < 4:
            return False
        at[0] += 4
        return True
    return False


cdef inline double _as_double(unsigned long long bits) noexcept nogil:
    cdef double d
    memcpy(&d, &bits, 8)
    return d


cdef inline str _text(const unsigned char* p, Span s):
    return PyUnicode_DecodeUTF8(<const char*>(p + s.at), s.len, NULL)


def read_creature(bytes data, int max_inputs, int max_outputs, Py_ssize_t max_neurons, Py_ssize_t max_synapses):
    """The FlatCreature of a serialized `neatai.v1.Creature`, or None when the message needs
    the full loader (anything invalid, or anything the loader would rewrite)."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = len(data), at = 0, n = 0, m = 0, k, i
    cdef int number, wire
    cdef unsigned long long value
    cdef Span span, version
    cdef long long n_in = 0, n_out = 0
    cdef bint forward_only = False, has_version = False
    # pass 1: counts and scalars
    while at < end:
        if not _field(p, end, &at, &number, &wire, &value, &span):
            return None
        if number == 1 and wire == 0:
            n_in = <long long>value
        elif number == 2 and wire == 0:
            n_out = <long long>value
        elif number == 3 and wire == 2:
            n += 1
        elif number == 4 and wire == 2:
            m += 1
        elif number == 5 and wire == 2:
            version, has_version = span, True
        elif number == 6 and wire == 0:
            forward_only = value != 0
        elif number in (8, 9) or (number in (1, 2, 3, 4, 5, 6, 7) and wire != (0 if number in (1, 2, 6) else 2)):
            return None  # memetic/hyperparameters (validated by the loader) or a mistyped field
    if not (1 <= n_in <= max_inputs and 1 <= n_out <= max_outputs) or n > max_neurons or m > max_synapses:
        return None
    if n_out > n or n + n_in > 2147483647:
        return None
    cdef Span* neurons = <Span*>malloc((n if n else 1) * sizeof(Span))
    cdef Span* synapses = <Span*>malloc((m if m else 1) * sizeof(Span))
    cdef Span* uuids = <Span*>malloc((n if n else 1) * sizeof(Span))
    cdef int* types = <int*>malloc((n if n else 1) * sizeof(int))
    cdef double* biases = <double*>malloc((n if n else 1) * sizeof(double))
    cdef Edge* edges = <Edge*>malloc((m if m else 1) * sizeof(Edge))
    cdef double* raw_w = <double*>malloc((m if m else 1) * sizeof(double))
    cdef HashSynapse* named = <HashSynapse*>malloc((m if m else 1) * sizeof(HashSynapse))
    try:
        if not (neurons and synapses and uuids and types and biases and edges and raw_w and named):
            raise MemoryError()
        return _read(p, end, <int>n_in, <int>n_out, n, m, forward_only, has_version, version,
                     neurons, synapses, uuids, types, biases, edges, raw_w, named)
    except UnicodeDecodeError:  # not from a parsed message (those hold valid UTF-8): the loader's call
        return None
    finally:
        free(neurons)
        free(synapses)
        free(uuids)
        free(types)
        free(biases)
        free(edges)
        free(raw_w)
        free(named)


cdef object _read(const unsigned char* p, Py_ssize_t end, int n_in, int n_out, Py_ssize_t n,
                  Py_ssize_t m, bint forward_only, bint has_version, Span version, Span* neurons,
                  Span* synapses, Span* uuids, int* types, double* biases, Edge* edges, double* raw_w,
                  HashSynapse* named):
    cdef Py_ssize_t at = 0, a, k, i, j, body, outputs = 0, hidden = 0, n_if = 0, if_ok = 0
    cdef int number, wire, op, frm, to, role, mask
    cdef unsigned long long value
    cdef Span span, squash
    cdef bint has_squash
    cdef Keys out
    cdef dict index = {}
    cdef bytes name
    k = i = 0
    while at < end:  # pass 2: where each neuron and synapse is
        _field(p, end, &at, &number, &wire, &value, &span)
        if number == 3:
            neurons[k] = span
            k += 1
        elif number == 4:
            synapses[i] = span
            i += 1
    cdef FlatCreature f = FlatCreature.__new__(FlatCreature)
    cdef tuple keys = new_keys(n, m, &out)
    _grow_output_names(n_out)
    magnitudes = []
    for k in range(n):
        at, end, types[k], biases[k], has_squash = neurons[k].at, neurons[k].at + neurons[k].len, 0, 0.0, False
        uuids[k].len = 0
        while at < end:
            if not _field(p, end, &at, &number, &wire, &value, &span):
                return None
            if number == 1 and wire == 2:
                uuids[k] = span
            elif number == 2 and wire == 0:
                types[k] = <int>value if value < 4 else 0
            elif number == 3 and wire == 1:
                biases[k] = _as_double(value)
            elif number == 4 and wire == 2:
                squash, has_squash = span, True
            elif number in (1, 2, 3, 4, 5, 6) and wire != (2 if number in (1, 4, 6) else (1 if number == 3 else 0)):
                return None
        if types[k] == 0 or uuids[k].len == 0 or not isfinite(biases[k]):
            return None
        if types[k] == NEURON_OUTPUT:
            outputs += 1
        elif outputs:  # a hidden or constant neuron after an output: the loader reorders
            return None
        if types[k] == NEURON_CONSTANT:
            if has_squash:
                return None
            op = OP_CONST
        elif has_squash:
            op = _SQUASH_ID_OF.get(_text(p, squash), -1)
            if op < 0:
                return None
        else:
            op = OP_IDENTITY
        out.op[k] = op
        out.bias[k] = <float>biases[k]
        magnitudes.append(abs(biases[k]))
        hidden += types[k] == NEURON_HIDDEN
        n_if += op == OP_IF
    if outputs != n_out:
        return None
    body = n - n_out
    for k in range(body):
        uuid = _text(p, uuids[k])
        if uuid in index or uuid.startswith(("input-", "output-")):
            return None  # duplicate or reserved: the loader words it
        index[uuid] = n_in + k
    for k in range(body, n):  # a synapse may name an output by the uuid its file gave it
        index[_text(p, uuids[k])] = n_in + k
    for i in range(m):
        at, end, role, raw_w[i] = synapses[i].at, synapses[i].at + synapses[i].len, 0, 0.0
        named[i].frm_len = named[i].to_len = 0
        while at < end:
            if not _field(p, end, &at, &number, &wire, &value, &span):
                return None
            if number == 1 and wire == 2:
                named[i].frm, named[i].frm_len = <const char*>(p + span.at), span.len
            elif number == 2 and wire == 2:
                named[i].to, named[i].to_len = <const char*>(p + span.at), span.len
            elif number == 3 and wire == 1:
                raw_w[i] = _as_double(value)
            elif number == 4 and wire == 0:
                role = <int>value if value < 4 else -1
            elif number in (1, 2, 3, 4, 5, 6) and wire != (2 if number in (1, 2, 6) else (1 if number == 3 else 0)):
                return None
        if role < 0 or named[i].frm_len == 0 or named[i].to_len == 0 or not isfinite(raw_w[i]):
            return None
        frm = _endpoint(PyUnicode_DecodeUTF8(named[i].frm, named[i].frm_len, NULL), index, n_in, n_out, body)
        to = _endpoint(PyUnicode_DecodeUTF8(named[i].to, named[i].to_len, NULL), index, n_in, n_out, body)
        if frm < 0 or to < n_in or out.op[to - n_in] == OP_CONST:
            return None  # unknown end, or a synapse into an input or a constant
        if n_in <= frm < n_in + body and to < n_in + body and frm > to:
            return None  # backward among hidden/constant neurons: the loader re-sorts (or it is a cycle)
        if frm >= to and forward_only:
            return None
        edges[i].frm, edges[i].to, edges[i].role, edges[i].pos = frm, to, role, i
        named[i].type, named[i].weight = role, raw_w[i]
        if frm >= n_in + body:  # hashed under its position name
            name = _OUTPUT_NAMES[frm - n_in - body]
            named[i].frm, named[i].frm_len = PyBytes_AS_STRING(name), len(name)
        if to >= n_in + body:
            name = _OUTPUT_NAMES[to - n_in - body]
            named[i].to, named[i].to_len = PyBytes_AS_STRING(name), len(name)
        magnitudes.append(abs(raw_w[i]))
    finish_keys(&out, n_in, n_out, n, m, edges, raw_w, NULL)  # sorts edges by (target, source, role)
    a = 0
    for i in range(m + 1):  # duplicates and IF roles, one target's inward synapses at a time
        if i > 0 and i < m and edges[i].to == edges[i - 1].to and edges[i].frm == edges[i - 1].frm \
                and edges[i].role == edges[i - 1].role:
            return None
        if i == m or edges[i].to != edges[a].to:
            if a < m and out.op[edges[a].to - n_in] == OP_IF:
                mask = 0
                for j in range(a, i):
                    mask |= 1 << (edges[j].role if edges[j].role else ROLE_POSITIVE)
                if mask & 0b1110 != 0b1110:
                    return None
                if_ok += 1
            a = i
    if if_ok != n_if:  # an IF neuron without any inward synapse
        return None
    f.index, f.params = keys
    f.input, f.output, f.n_neurons, f.n_synapses, f.hidden_count = n_in, n_out, n, m, hidden
    f.magnitudes = magnitudes
    f.semantic_version = _text(p, version) if has_version else None
    # the structural hash, outputs under their new names
    cdef HashNeuron* hashed = <HashNeuron*>malloc(n * sizeof(HashNeuron))
    if hashed == NULL:
        raise MemoryError()
    try:
        for k in range(n):
            if k >= body:
                name = _OUTPUT_NAMES[k - body]
                hashed[k].uuid, hashed[k].uuid_len = PyBytes_AS_STRING(name), len(name)
            else:
                hashed[k].uuid, hashed[k].uuid_len = <const char*>(p + uuids[k].at), uuids[k].len
            hashed[k].type = types[k]
            name = _SQUASH_NAME[OP_IDENTITY if out.op[k] == OP_CONST else out.op[k]]
            hashed[k].squash, hashed[k].squash_len = PyBytes_AS_STRING(name), len(name)
            hashed[k].bias = biases[k]
        f._hash = structural_hash_of(n_in, n_out, hashed, n, named, m)
    finally:
        free(hashed)
    return f


cdef inline int _endpoint(str name, dict index, int n_in, int n_out, Py_ssize_t body) except -2:
    """Buffer index of a synapse end, or -1 when it names no neuron. `index` holds the hidden
    and constant uuids and the outputs' uuids as given (they win, as the loader renames first)."""
    found = index.get(name)
    if found is not None:
        return found
    cdef int i = input_index(name, n_in)
    if i >= 0:
        return i
    found = _OUTPUT_OF.get(name)
    if found is not None:
        return n_in + body + found if found < n_out else -1
    return -1
