# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The RPC fast path: a `neatai.v1.Creature` read from its protobuf wire form straight into the
compiled form — the kernel keys, the structural hash and what the score needs — without
building the creature model. It accepts only what `Creature.from_proto` accepts unchanged
(neurons already in dependency order, outputs last, no memetic or hyperparameters); for
anything else it answers None and the caller loads the message with `Creature.from_proto`,
which stays the one place that words validation problems. The tests check that both paths
agree on every creature the fast path accepts and that it accepts none that is invalid.
"""
from libc.math cimport fabs, isfinite
from libc.string cimport memcmp
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

# Squash names (canonical and aliases) as byte spans, matched without building strings.
cdef list _SQUASH_KEYS = list(_SQUASH_ID_OF)
cdef list _SQUASH_BYTES = [name.encode() for name in _SQUASH_KEYS]
cdef int _SQUASH_COUNT = len(_SQUASH_BYTES)
cdef const char* _SQUASH_PTR[64]
cdef Py_ssize_t _SQUASH_LEN[64]
cdef int _SQUASH_OP[64]
for _k in range(_SQUASH_COUNT):
    _SQUASH_PTR[_k] = PyBytes_AS_STRING(_SQUASH_BYTES[_k])
    _SQUASH_LEN[_k] = len(_SQUASH_BYTES[_k])
    _SQUASH_OP[_k] = _SQUASH_ID_OF[_SQUASH_KEYS[_k]]


cdef void _grow_output_names(Py_ssize_t n_out):
    cdef Py_ssize_t k
    for k in range(len(_OUTPUT_NAMES), n_out):
        _OUTPUT_NAMES.append(f"output-{k}".encode())


cdef inline int _squash_op(const char* s, Py_ssize_t n) noexcept nogil:
    cdef int k
    for k in range(_SQUASH_COUNT):
        if _SQUASH_LEN[k] == n and memcmp(_SQUASH_PTR[k], s, n) == 0:
            return _SQUASH_OP[k]
    return -1


# uuid -> buffer index: open addressing over byte spans of the message (UTF-8 is a unique
# encoding, so equal strings are equal bytes), instead of a dict of decoded strings.
cdef struct Slot:
    const char* s
    Py_ssize_t len    # -1: empty
    int index


cdef inline Py_ssize_t _slot(const Slot* table, Py_ssize_t mask, const char* s, Py_ssize_t n) noexcept nogil:
    cdef unsigned long long h = 14695981039346656037ULL  # FNV-1a
    cdef Py_ssize_t k
    for k in range(n):
        h = (h ^ <unsigned char>s[k]) * 1099511628211ULL
    k = <Py_ssize_t>(h & mask)
    while table[k].len >= 0 and not (table[k].len == n and memcmp(table[k].s, s, n) == 0):
        k = (k + 1) & mask
    return k


cdef inline bint _prefixed(const char* s, Py_ssize_t n, const char* prefix, Py_ssize_t plen) noexcept nogil:
    return n >= plen and memcmp(s, prefix, plen) == 0


cdef inline int _numbered(const char* s, Py_ssize_t n, const char* prefix, Py_ssize_t plen, int limit) noexcept nogil:
    """k for `prefix` + k written as Python writes it (no sign, no leading zero) with k < limit, else -1."""
    cdef Py_ssize_t k
    cdef long long v = 0
    if not _prefixed(s, n, prefix, plen) or n == plen or n - plen > 10 or (s[plen] == 48 and n - plen > 1):
        return -1
    for k in range(plen, n):
        if not 48 <= s[k] <= 57:
            return -1
        v = v * 10 + (s[k] - 48)
    return <int>v if v < limit else -1


cdef inline int _endpoint(const Slot* table, Py_ssize_t mask, const char* s, Py_ssize_t n, int n_in, int n_out,
                          Py_ssize_t body) noexcept nogil:
    """Buffer index of a synapse end, or -1 when it names no neuron. `table` holds the hidden
    and constant uuids and the outputs' uuids as given (they win, as the loader renames first)."""
    cdef Py_ssize_t k = _slot(table, mask, s, n)
    cdef int i
    if table[k].len >= 0:
        return table[k].index
    i = _numbered(s, n, "input-", 6, n_in)
    if i >= 0:
        return i
    i = _numbered(s, n, "output-", 7, n_out)
    return n_in + <int>body + i if i >= 0 else -1


cdef inline int _check_utf8(const char* s, Py_ssize_t n) except -1:
    """Raises UnicodeDecodeError unless s[:n] is UTF-8 (what a parsed message's strings are)."""
    cdef Py_ssize_t k
    for k in range(n):
        if <unsigned char>s[k] >= 0x80:
            PyUnicode_DecodeUTF8(s, n, NULL)
            return 0
    return 0


cdef bint _valid_tag(const unsigned char* p, Span tag) except -1:
    """A `Tag` message protobuf would parse: its fields well formed, its strings UTF-8 (the
    reader keeps no tags, but must refuse what the protobuf parser refuses)."""
    cdef Py_ssize_t at = tag.at, end = tag.at + tag.len
    cdef int number, wire
    cdef unsigned long long value
    cdef Span span
    while at < end:
        if not read_field(p, end, &at, &number, &wire, &value, &span):
            return False
        if number == F.tag.name or number == F.tag.value:
            if wire != LEN:
                return False
            _check_utf8(<const char*>(p + span.at), span.len)
    return True


cdef double _compensated_sum(const double* x, Py_ssize_t n) noexcept nogil:
    """Neumaier's compensated sum: correctly rounded for the handful of positive magnitudes
    a score averages, without math.fsum's list of Python floats."""
    cdef double total = 0, c = 0, t
    cdef Py_ssize_t k
    for k in range(n):
        t = total + x[k]
        c += (total - t) + x[k] if fabs(total) >= fabs(x[k]) else (x[k] - t) + total
        total = t
    return total + c


cdef enum:
    NEURON_HIDDEN = 1
    NEURON_OUTPUT = 2
    NEURON_CONSTANT = 3


cdef class FlatCreature:
    """A creature in the form the evaluator needs: input/output counts, the compiled keys
    (`flatten`'s index and parameters), the structural hash and the score's inputs (the
    largest and the mean of |weight| over the synapses and |bias| over the neurons)."""

    def __dealloc__(self):
        free(self._magnitudes)

    @staticmethod
    def of(creature):
        """From a creature model object (its structural hash is computed when asked for)."""
        cdef FlatCreature f = FlatCreature.__new__(FlatCreature)
        cdef Py_ssize_t k = 0
        f.index, f.params = flatten(creature)
        f.input, f.output = creature.input, creature.output
        f.n_neurons, f.n_synapses = len(creature.neurons), len(creature.synapses)
        f.hidden_count = creature.hidden_count
        f._magnitudes = <double*>malloc((f.n_neurons + f.n_synapses + 1) * sizeof(double))
        if f._magnitudes == NULL:
            raise MemoryError()
        for s in creature.synapses:
            f._magnitudes[k] = fabs(<double>s.weight)
            k += 1
        for n in creature.neurons:
            f._magnitudes[k] = fabs(<double>n.bias)
            k += 1
        f._summarise()
        f.semantic_version = creature.semantic_version
        f._creature = creature
        return f

    cdef void _summarise(self) noexcept:
        cdef Py_ssize_t k, count = self.n_neurons + self.n_synapses
        cdef double high = 0
        for k in range(count):
            high = self._magnitudes[k] if self._magnitudes[k] > high else high
        self.max_magnitude = high
        self.mean_magnitude = _compensated_sum(self._magnitudes, count) / count if count else 0

    @property
    def magnitudes(self) -> list[float]:
        """|weight| of every synapse, then |bias| of every neuron."""
        return [self._magnitudes[k] for k in range(self.n_neurons + self.n_synapses)]

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
    try:
        return _read_message(data, max_inputs, max_outputs, max_neurons, max_synapses, offset, length, False)
    except UnicodeDecodeError:  # a string protobuf would refuse: the loader's call (it words it)
        return None


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
        elif number == F.creature.semantic_version:  # every occurrence is checked, as protobuf does
            _check_utf8(<const char*>(p + span.at), span.len)
            version, has_version = span, True
        elif number == F.creature.forward_only:
            forward_only = value != 0
        elif number == F.creature.memetic or number == F.creature.hyperparameters:
            return None  # validated (and kept) by the loader
        elif number == F.creature.tags and not _valid_tag(p, span):
            return None
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
    finally:
        free(neurons)
        free(synapses)
        free(uuids)
        free(types)
        free(biases)
        free(edges)
        free(raw_w)
        free(named)


cdef bint _synapses(const unsigned char* p, FlatCreature f, int n_in, int n_out, Py_ssize_t n, Py_ssize_t m,
                    Py_ssize_t body, bint forward_only, Span* synapses, Edge* edges, double* raw_w,
                    HashSynapse* named, const Slot* table, Py_ssize_t mask, Keys* out) except -1:
    """Each synapse's ends, weight and role into `edges`, `raw_w`, `named` (the hash's view);
    False when the loader must take the creature."""
    cdef Py_ssize_t at, end, i
    cdef int number, wire, frm, to, role
    cdef unsigned long long value
    cdef Span span
    cdef bytes name
    for i in range(m):
        at, end, role, raw_w[i] = synapses[i].at, synapses[i].at + synapses[i].len, 0, 0.0
        named[i].frm_len = named[i].to_len = 0
        while at < end:
            if not read_field(p, end, &at, &number, &wire, &value, &span):
                return False
            if _mistyped(SYNAPSE_WIRE, number, wire):
                return False
            if number == F.synapse.from_uuid or number == F.synapse.to_uuid:
                _check_utf8(<const char*>(p + span.at), span.len)
            if number == F.synapse.from_uuid:
                named[i].frm, named[i].frm_len = <const char*>(p + span.at), span.len
            elif number == F.synapse.to_uuid:
                named[i].to, named[i].to_len = <const char*>(p + span.at), span.len
            elif number == F.synapse.weight:
                raw_w[i] = as_double(value)
            elif number == F.synapse.type:
                role = <int>value if value < 4 else -1
            elif number == F.synapse.tags and not _valid_tag(p, span):
                return False
        if role < 0 or named[i].frm_len == 0 or named[i].to_len == 0 or not isfinite(raw_w[i]):
            return False
        frm = _endpoint(table, mask, named[i].frm, named[i].frm_len, n_in, n_out, body)
        to = _endpoint(table, mask, named[i].to, named[i].to_len, n_in, n_out, body)
        if frm < 0 or to < n_in or out[0].op[to - n_in] == OP_CONST:
            return False  # unknown end, or a synapse into an input or a constant
        if n_in <= frm < n_in + body and to < n_in + body and frm > to:
            return False  # backward among hidden/constant neurons: the loader re-sorts (or it is a cycle)
        if frm >= to and forward_only:
            return False
        edges[i].frm, edges[i].to, edges[i].role, edges[i].pos = frm, to, role, i
        named[i].type, named[i].weight = role, raw_w[i]
        if frm >= n_in + body:  # hashed under its position name
            name = _OUTPUT_NAMES[frm - n_in - body]
            named[i].frm, named[i].frm_len = PyBytes_AS_STRING(name), len(name)
        if to >= n_in + body:
            name = _OUTPUT_NAMES[to - n_in - body]
            named[i].to, named[i].to_len = PyBytes_AS_STRING(name), len(name)
        f._magnitudes[i] = fabs(raw_w[i])
    return True


cdef FlatCreature _read(const unsigned char* p, Py_ssize_t end, int n_in, int n_out, Py_ssize_t n,
                  Py_ssize_t m, bint forward_only, bint has_version, Span version, Span* neurons,
                  Span* synapses, Span* uuids, int* types, double* biases, Edge* edges, double* raw_w,
                  HashSynapse* named, bint with_hash):
    cdef Py_ssize_t at = 0, a, k, i, j, body, outputs = 0, hidden = 0, n_if = 0, if_ok = 0
    cdef int number, wire, op, bits
    cdef unsigned long long value
    cdef Span span, squash
    cdef bint has_squash
    cdef Keys out
    cdef bytes name
    cdef Py_ssize_t mask = 7, slot
    cdef Slot* table
    cdef const char* uuid
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
    f._magnitudes = <double*>malloc((n + m + 1) * sizeof(double))
    if f._magnitudes == NULL:
        raise MemoryError()
    cdef tuple keys = new_keys(n, m, &out)
    _grow_output_names(n_out)
    for k in range(n):
        at, end, types[k], biases[k], has_squash = neurons[k].at, neurons[k].at + neurons[k].len, 0, 0.0, False
        uuids[k].len = 0
        while at < end:
            if not read_field(p, end, &at, &number, &wire, &value, &span):
                return None
            if _mistyped(NEURON_WIRE, number, wire):
                return None
            if number == F.neuron.uuid or number == F.neuron.squash:
                _check_utf8(<const char*>(p + span.at), span.len)
            if number == F.neuron.uuid:
                uuids[k] = span
            elif number == F.neuron.type:
                types[k] = <int>value if value < 4 else 0
            elif number == F.neuron.bias:
                biases[k] = as_double(value)
            elif number == F.neuron.squash:
                squash, has_squash = span, True
            elif number == F.neuron.tags and not _valid_tag(p, span):
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
            op = _squash_op(<const char*>(p + squash.at), squash.len)
            if op < 0:
                return None
        else:
            op = OP_IDENTITY
        out.op[k] = op
        out.bias[k] = <float>biases[k]
        f._magnitudes[m + k] = fabs(biases[k])
        hidden += types[k] == NEURON_HIDDEN
        n_if += op == OP_IF
    if outputs != n_out:
        return None
    body = n - n_out
    while mask + 1 < 2 * n:
        mask = 2 * mask + 1
    table = <Slot*>malloc((mask + 1) * sizeof(Slot))
    if table == NULL:
        raise MemoryError()
    try:
        for k in range(mask + 1):
            table[k].len = -1
        for k in range(n):
            uuid = <const char*>(p + uuids[k].at)
            slot = _slot(table, mask, uuid, uuids[k].len)
            if k < body and (table[slot].len >= 0 or _prefixed(uuid, uuids[k].len, "input-", 6)
                             or _prefixed(uuid, uuids[k].len, "output-", 7)):
                return None  # duplicate or reserved: the loader words it
            # a synapse may name an output by the uuid its file gave it (that wins over a hidden one)
            table[slot].s, table[slot].len, table[slot].index = uuid, uuids[k].len, n_in + k
        if not _synapses(p, f, n_in, n_out, n, m, body, forward_only, synapses, edges, raw_w, named, table, mask,
                         &out):
            return None
    finally:
        free(table)
    finish_keys(&out, n_in, n_out, n, m, edges, raw_w, NULL)  # sorts edges by (target, source, role)
    a = 0
    for i in range(m + 1):  # duplicates and IF roles, one target's inward synapses at a time
        if i > 0 and i < m and edges[i].to == edges[i - 1].to and edges[i].frm == edges[i - 1].frm \
                and edges[i].role == edges[i - 1].role:
            return None
        if i == m or edges[i].to != edges[a].to:
            if a < m and out.op[edges[a].to - n_in] == OP_IF:
                bits = 0
                for j in range(a, i):
                    bits |= 1 << (edges[j].role if edges[j].role else ROLE_POSITIVE)
                if bits & 0b1110 != 0b1110:
                    return None
                if_ok += 1
            a = i
    if if_ok != n_if:  # an IF neuron without any inward synapse
        return None
    f.index, f.params = keys
    f.input, f.output, f.n_neurons, f.n_synapses, f.hidden_count = n_in, n_out, n, m, hidden
    f._summarise()
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
