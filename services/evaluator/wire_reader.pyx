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
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeUTF8

from neatai import squash as _squash
from neatai.evaluator.compiled import flatten

from neatai.evaluator.compiled cimport (Edge, Keys, OP_CONST, OP_IDENTITY, OP_IF, ROLE_POSITIVE, finish_keys,
                                        input_index, new_keys)
from neatai.structural_hash cimport HashNeuron, HashSynapse, structural_hash_of
from neatai.wire cimport FIXED64, LEN, VARINT, Span, WireFields, as_double, read_field, wire_fields

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
    cdef object _creature           # the model it came from, or
    cdef bytes _data                # the bytes it was read from (hashed when asked)
    cdef Py_ssize_t _offset, _length

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
        """`Creature.structural_hash` of the creature, computed on the first call."""
        if self._hash is None:
            if self._creature is not None:
                self._hash = self._creature.structural_hash()
            else:
                self._hash = _read_message(self._data, 2147483647, 2147483647, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX,
                                           self._offset, self._length, True)._hash
        return self._hash

    @property
    def size(self) -> int:
        return self.n_neurons + self.n_synapses


# Expected wire type by field number (-1: not a field of that message), from neatai.wire's numbers.
cdef int CREATURE_WIRE[64]
cdef int NEURON_WIRE[64]
cdef int SYNAPSE_WIRE[64]


cdef void _expect(int* table, int number, int wire):
    if 0 <= number < 64:
        table[number] = wire


cdef const WireFields* F = wire_fields()
for _k in range(64):
    CREATURE_WIRE[_k] = NEURON_WIRE[_k] = SYNAPSE_WIRE[_k] = -1
for _number, _wire in ((F.creature.input, VARINT), (F.creature.output, VARINT), (F.creature.neurons, LEN),
                       (F.creature.synapses, LEN), (F.creature.semantic_version, LEN),
                       (F.creature.forward_only, VARINT), (F.creature.tags, LEN), (F.creature.memetic, LEN),
                       (F.creature.hyperparameters, LEN)):
    _expect(CREATURE_WIRE, _number, _wire)
for _number, _wire in ((F.neuron.uuid, LEN), (F.neuron.type, VARINT), (F.neuron.bias, FIXED64),
                       (F.neuron.squash, LEN), (F.neuron.frozen, VARINT), (F.neuron.tags, LEN)):
    _expect(NEURON_WIRE, _number, _wire)
for _number, _wire in ((F.synapse.from_uuid, LEN), (F.synapse.to_uuid, LEN), (F.synapse.weight, FIXED64),
                       (F.synapse.type, VARINT), (F.synapse.frozen, VARINT), (F.synapse.tags, LEN)):
    _expect(SYNAPSE_WIRE, _number, _wire)


cdef inline bint _mistyped(const int* table, int number, int wire) noexcept nogil:
    """A known field sent with another wire type (unknown fields are skipped, as protobuf does)."""
    return 0 <= number < 64 and table[number] >= 0 and table[number] != wire


cdef inline str _text(const unsigned char* p, Span s):
    return PyUnicode_DecodeUTF8(<const char*>(p + s.at), s.len, NULL)


def read_creature(bytes data, int max_inputs, int max_outputs, Py_ssize_t max_neurons, Py_ssize_t max_synapses,
                  Py_ssize_t offset=0, Py_ssize_t length=-1):
    """The FlatCreature of a serialized `neatai.v1.Creature` (the whole of `data`, or its
    `length` bytes from `offset`, as in a request `neatai.wire.split_evaluate_request` split),
    or None when the message needs the full loader (anything invalid, or anything the loader
    would rewrite). Its structural hash is computed when first asked for."""
    if length < 0:
        length = len(data) - offset
    if offset < 0 or offset + length > len(data):
        raise ValueError(f"span [{offset}, {offset + length}) lies outside the {len(data)} bytes")
    return _read_message(data, max_inputs, max_outputs, max_neurons, max_synapses, offset, length, False)


cdef FlatCreature _read_message(bytes data, int max_inputs, int max_outputs, Py_ssize_t max_neurons,
                                Py_ssize_t max_synapses, Py_ssize_t offset, Py_ssize_t length, bint with_hash):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data) + offset
    cdef Py_ssize_t end = length, at = 0, n = 0, m = 0, k, i
    cdef FlatCreature f
    cdef int number, wire
    cdef unsigned long long value
    cdef Span span, version
    cdef long long n_in = 0, n_out = 0
    cdef bint forward_only = False, has_version = False
    # pass 1: counts and scalars
    while at < end:
        if not read_field(p, end, &at, &number, &wire, &value, &span):
            return None
        if _mistyped(CREATURE_WIRE, number, wire):
            return None
        if number == F.creature.input:
            n_in = <long long>value
        elif number == F.creature.output:
            n_out = <long long>value
        elif number == F.creature.neurons:
            n += 1
        elif number == F.creature.synapses:
            m += 1
        elif number == F.creature.semantic_version:
            version, has_version = span, True
        elif number == F.creature.forward_only:
            forward_only = value != 0
        elif number == F.creature.memetic or number == F.creature.hyperparameters:
            return None  # validated (and kept) by the loader
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
        f = _read(p, end, <int>n_in, <int>n_out, n, m, forward_only, has_version, version,
                  neurons, synapses, uuids, types, biases, edges, raw_w, named, with_hash)
        if f is not None and not with_hash:
            f._data, f._offset, f._length = data, offset, length
        return f
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


cdef FlatCreature _read(const unsigned char* p, Py_ssize_t end, int n_in, int n_out, Py_ssize_t n,
                  Py_ssize_t m, bint forward_only, bint has_version, Span version, Span* neurons,
                  Span* synapses, Span* uuids, int* types, double* biases, Edge* edges, double* raw_w,
                  HashSynapse* named, bint with_hash):
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
        read_field(p, end, &at, &number, &wire, &value, &span)
        if number == F.creature.neurons:
            neurons[k] = span
            k += 1
        elif number == F.creature.synapses:
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
            if not read_field(p, end, &at, &number, &wire, &value, &span):
                return None
            if _mistyped(NEURON_WIRE, number, wire):
                return None
            if number == F.neuron.uuid:
                uuids[k] = span
            elif number == F.neuron.type:
                types[k] = <int>value if value < 4 else 0
            elif number == F.neuron.bias:
                biases[k] = as_double(value)
            elif number == F.neuron.squash:
                squash, has_squash = span, True
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
            if not read_field(p, end, &at, &number, &wire, &value, &span):
                return None
            if _mistyped(SYNAPSE_WIRE, number, wire):
                return None
            if number == F.synapse.from_uuid:
                named[i].frm, named[i].frm_len = <const char*>(p + span.at), span.len
            elif number == F.synapse.to_uuid:
                named[i].to, named[i].to_len = <const char*>(p + span.at), span.len
            elif number == F.synapse.weight:
                raw_w[i] = as_double(value)
            elif number == F.synapse.type:
                role = <int>value if value < 4 else -1
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
    if not with_hash:
        return f
    # the structural hash, outputs under their new names
    cdef HashNeuron* hashed = <HashNeuron*>malloc((n if n else 1) * sizeof(HashNeuron))
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
