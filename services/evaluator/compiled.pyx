# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled format: one creature as flat contiguous arrays the kernels read without the GIL
(reference/neat-ai.md §1.4).

Per non-input neuron an op (the `neatai.squash` id, or OP_CONST for a constant), a bias and the
output range; inward synapses grouped by target (CSR: `offsets`, `sources`, `weights`, `roles`
0 standard / 1 positive / 2 negative / 3 condition). The arrays live in byte strings that
double as the cache keys:

    index      = header i32[5] (inputs, outputs, n, m, recurrent) | ops i32[n] |
                 offsets i32[n+1] | sources i32[m] | roles i8[m]   (the topology key)
    parameters = bias f32[n] | weights f32[m]     ((index, parameters) is the structure key)

plus `ranges` = lo f32[n] | hi f32[n], derived from the ops. Every segment starts 4-byte
aligned. Networks of one topology share the template's index and ranges, so a cached network
costs its parameters. A cached network is immutable; `Network.trainable()` gives a copy whose
parameters live in their own writable buffer, with the maps training needs to write values
back (CSR slot -> the creature's synapse order; neurons keep the creature's order), the
outward (transposed) adjacency for reverse sweeps, neuron names and frozen flags.

`flatten` is the creature -> arrays adapter's compiled half: it walks a creature model once.
"""
cimport numpy as cnp
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.bytearray cimport PyByteArray_AS_STRING

import numpy as np

from neatai import squash as _squash

cnp.import_array()

cdef float RANGE_LO[64]
cdef float RANGE_HI[64]
for _s in _squash.SQUASHES:
    RANGE_LO[_s.id] = _s.lo
    RANGE_HI[_s.id] = _s.hi

_forward = None  # neatai.evaluator.forward, imported on the first activate (it cimports this module)


cdef class Network:
    """One compiled creature: flat contiguous arrays the kernels read without the GIL.

    Build it with `neatai.evaluator.compile_network` (or `NetworkCompiler.compile`); the
    constructor takes the arrays and validates them. The arrays (`ops`, `bias`, `lo`, `hi`,
    `offsets`, `sources`, `weights`, `roles`) are views: read-only, except `bias` and `weights`
    of a trainable copy. `n_neurons` counts the non-input neurons.
    """

    def __init__(self, int n_inputs, int n_outputs, ops, bias, lo, hi, offsets, sources, weights, roles):
        arrays = [np.ascontiguousarray(a, dtype=t) for a, t in (
            (ops, np.int32), (bias, np.float32), (lo, np.float32), (hi, np.float32), (offsets, np.int32),
            (sources, np.int32), (weights, np.float32), (roles, np.int8))]
        ops, bias, lo, hi, offsets, sources, weights, roles = arrays
        cdef Py_ssize_t n_nodes = ops.shape[0], n_syn = sources.shape[0]
        if any(a.ndim != 1 for a in arrays):
            raise ValueError("network arrays must be one-dimensional")
        if (bias.shape[0] != n_nodes or lo.shape[0] != n_nodes or hi.shape[0] != n_nodes
                or offsets.shape[0] != n_nodes + 1 or weights.shape[0] != n_syn or roles.shape[0] != n_syn):
            raise ValueError("network arrays disagree in length")
        if n_inputs < 1 or n_outputs < 1 or n_outputs > n_nodes:
            raise ValueError(f"bad network shape: {n_inputs} inputs, {n_outputs} outputs, {n_nodes} neurons")
        if offsets[0] != 0 or offsets[n_nodes] != n_syn or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must rise from 0 to the synapse count")
        if not np.all(((ops >= 0) & (ops < len(_squash.SQUASHES))) | (ops == OP_CONST)):
            raise ValueError("unknown op in ops")
        if n_syn and (sources.min() < 0 or sources.max() >= n_inputs + n_nodes):
            raise ValueError("synapse source out of range")
        if n_syn and (roles.min() < 0 or roles.max() > ROLE_CONDITION):
            raise ValueError("synapse role out of range")
        targets = np.repeat(np.arange(n_inputs, n_inputs + n_nodes), np.diff(offsets))
        header = np.array([n_inputs, n_outputs, n_nodes, n_syn, np.any(sources >= targets)], dtype=np.int32)
        index = b"".join((header.tobytes(), ops.tobytes(), offsets.tobytes(), sources.tobytes(), roles.tobytes()))
        self._attach(b"".join((bias.tobytes(), weights.tobytes())), index,
                     b"".join((lo.tobytes(), hi.tobytes())))

    cdef void _attach(self, object params, bytes index, bytes ranges):
        cdef const char* ix = PyBytes_AS_STRING(index)
        cdef const int* header = <const int*>ix
        cdef char* pp = (PyBytes_AS_STRING(params) if type(params) is bytes
                         else PyByteArray_AS_STRING(params))
        cdef const char* rp = PyBytes_AS_STRING(ranges)
        cdef int n = header[2], m = header[3]
        self._params, self._index, self._ranges = params, index, ranges
        self.n_inputs, self.n_outputs, self.n_neurons, self.n_synapses = header[0], header[1], n, m
        self.recurrent = header[4]
        self.net.n_in, self.net.n_out, self.net.n_nodes, self.net.recurrent = header[0], header[1], n, header[4]
        self.net.bias = <float*>pp
        self.net.w = <float*>(pp + 4 * n)
        self.net.op = <const int*>(ix + 4 * HEADER)
        self.net.off = <const int*>(ix + 4 * (HEADER + n))
        self.net.src = <const int*>(ix + 4 * (HEADER + 2 * n + 1))
        self.net.role = <const signed char*>(ix + 4 * (HEADER + 2 * n + 1 + m))
        self.net.lo = <const float*>rp
        self.net.hi = <const float*>(rp + 4 * n)

    cdef _check_built(self):
        if self._params is None:
            raise ValueError("network was never built (use compile_network or Network(...))")

    cdef _view(self, object owner, dtype, Py_ssize_t count, Py_ssize_t offset):
        self._check_built()
        return np.frombuffer(owner, dtype=dtype, count=count, offset=offset)

    @property
    def bias(self):
        return self._view(self._params, np.float32, self.n_neurons, 0)

    @property
    def weights(self):
        """Weights in CSR slot order (see `synapse_order` for the creature's order)."""
        return self._view(self._params, np.float32, self.n_synapses, 4 * self.n_neurons)

    @property
    def ops(self):
        return self._view(self._index, np.int32, self.n_neurons, 4 * HEADER)

    @property
    def offsets(self):
        return self._view(self._index, np.int32, self.n_neurons + 1, 4 * (HEADER + self.n_neurons))

    @property
    def sources(self):
        return self._view(self._index, np.int32, self.n_synapses,
                          4 * (HEADER + 2 * self.n_neurons + 1))

    @property
    def roles(self):
        return self._view(self._index, np.int8, self.n_synapses,
                          4 * (HEADER + 2 * self.n_neurons + 1 + self.n_synapses))

    @property
    def targets(self):
        """Activation-buffer index of each CSR slot's target neuron."""
        return np.repeat(np.arange(self.n_inputs, self.n_inputs + self.n_neurons, dtype=np.int32),
                         np.diff(self.offsets))

    @property
    def lo(self):
        return self._view(self._ranges, np.float32, self.n_neurons, 0)

    @property
    def hi(self):
        return self._view(self._ranges, np.float32, self.n_neurons, 4 * self.n_neurons)

    @property
    def squash(self):
        """`neatai.squash` id per non-input neuron (IDENTITY for constants)."""
        return np.where(self.ops == OP_CONST, 0, self.ops).astype(np.int8)

    @property
    def constant(self):
        return self.ops == OP_CONST

    @property
    def topology_key(self):
        """The index bytes (see the module doc); one object for all networks of a template."""
        return self._index

    @property
    def parameters(self):
        """The bias and weight bytes (see the module doc); a snapshot for a trainable copy."""
        return self._params if type(self._params) is bytes else bytes(self._params)

    @property
    def writable(self):
        return type(self._params) is not bytes

    def shares_topology(self, Network other):
        """True when both networks read the very same index arrays (one came from the other's template)."""
        return self._index is other._index

    def outward(self):
        """The transposed adjacency for reverse sweeps: (offsets int32[inputs + neurons + 1],
        targets int32[m], slots int32[m]); the synapses leaving buffer row r are
        offsets[r]..offsets[r+1], each with its target row and its CSR slot (index into
        `weights`). Computed once per network."""
        if self._outward is None:
            sources = self.sources
            slots = np.argsort(sources, kind="stable").astype(np.int32)
            counts = np.bincount(sources, minlength=self.n_inputs + self.n_neurons)
            offsets = np.zeros(self.n_inputs + self.n_neurons + 1, dtype=np.int32)
            np.cumsum(counts, out=offsets[1:])
            self._outward = (offsets, self.targets[slots], slots)
        return self._outward

    def trainable(self, synapse_order=None, names=None, frozen_bias=None, frozen_weights=None):
        """A copy of this network whose biases and weights are writable (its own buffer; the
        topology stays shared), carrying the maps back to the creature: `synapse_order`
        (int32[m], CSR slot -> the creature's synapse index), `names` (every neuron's uuid,
        inputs first), `frozen_bias` (bool[n]) and `frozen_weights` (bool[m], slot order)."""
        self._check_built()
        cdef Network other = Network.__new__(Network)
        other._attach(bytearray(self._params), self._index, self._ranges)
        other._outward = self._outward
        other.synapse_order = _vector(synapse_order, np.int32, self.n_synapses, "synapse_order")
        other.frozen_bias = _vector(frozen_bias, np.bool_, self.n_neurons, "frozen_bias")
        other.frozen_weights = _vector(frozen_weights, np.bool_, self.n_synapses, "frozen_weights")
        if names is not None:
            names = list(names)
            if len(names) != self.n_inputs + self.n_neurons:
                raise ValueError(f"expected {self.n_inputs + self.n_neurons} names, got {len(names)}")
        other.names = names
        return other

    def activate(self, X, bint feedback_loop=False, int tile=0):
        """Outputs float32[n, outputs] for inputs float32[n, inputs] (records in order)."""
        global _forward
        if _forward is None:
            from neatai.evaluator import forward as _f
            _forward = _f
        return _forward.activate(self, X, feedback_loop, tile or _forward.TILE)

    def __repr__(self):
        return (f"Network(inputs={self.n_inputs}, outputs={self.n_outputs}, neurons={self.n_neurons}, "
                f"synapses={self.n_synapses}, recurrent={bool(self.recurrent)})")


def _vector(values, dtype, Py_ssize_t length, str name):
    if values is None:
        return None
    a = np.ascontiguousarray(values, dtype=dtype)
    if a.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {a.shape}")
    a.setflags(write=False)
    return a


cdef int edge_order(const void* a, const void* b) noexcept nogil:
    cdef const Edge* x = <const Edge*>a
    cdef const Edge* y = <const Edge*>b
    if x.to != y.to:
        return -1 if x.to < y.to else 1
    if x.frm != y.frm:
        return -1 if x.frm < y.frm else 1
    if x.role != y.role:
        return -1 if x.role < y.role else 1
    return -1 if x.pos < y.pos else (1 if x.pos > y.pos else 0)


cdef dict _OP_OF = {s.name: s.id for s in _squash.SQUASHES}
cdef dict _ROLE_OF = {None: ROLE_STANDARD, "positive": ROLE_POSITIVE, "negative": ROLE_NEGATIVE,
                      "condition": ROLE_CONDITION}
cdef dict _INPUT_OF = {}   # "input-i" -> i, grown on demand (saves parsing the names of every creature)


cdef int input_index(str name, int n_in) except -2:
    """i for "input-i" with i < n_in, else -1."""
    cdef Py_ssize_t k
    if len(_INPUT_OF) < n_in:
        for k in range(len(_INPUT_OF), n_in):
            _INPUT_OF[f"input-{k}"] = k
    found = _INPUT_OF.get(name)
    if found is None or <int>found >= n_in:
        return -1
    return found


cdef tuple _NEURON_FIELDS = ("uuid", "type", "squash", "bias")
cdef tuple _SYNAPSE_FIELDS = ("from_uuid", "to_uuid", "type", "weight")


cdef inline dict _fields(obj, tuple names):
    """The attributes flatten reads, as a dict: the instance dict of the creature model's
    dataclasses (plain lookups, the fast path), else gathered by name."""
    d = getattr(obj, "__dict__", None)
    if type(d) is dict:
        return <dict>d
    return {name: getattr(obj, name) for name in names}


cdef tuple new_keys(Py_ssize_t n, Py_ssize_t m, Keys* k):
    """Allocate (index, parameters) for n neurons and m synapses; `k` points into them."""
    cdef bytes params = PyBytes_FromStringAndSize(NULL, 4 * (n + m))
    cdef bytes topology = PyBytes_FromStringAndSize(NULL, 4 * (HEADER + 2 * n + 1 + m) + m)
    k.bias = <float*>PyBytes_AS_STRING(params)
    k.w = k.bias + n
    k.header = <int*>PyBytes_AS_STRING(topology)
    k.op = k.header + HEADER
    k.off = k.op + n
    k.src = k.off + n + 1
    k.role = <signed char*>(k.src + m)
    return topology, params


cdef void finish_keys(Keys* k, int n_in, int n_out, Py_ssize_t n, Py_ssize_t m, Edge* edges,
                      const double* raw_w, int* order) noexcept:
    """Synapses into canonical CSR order (target, source, role), the header last. `k.op` and
    `k.bias` are filled by the caller; `edges[i].pos` indexes `raw_w`. When `order` is not
    NULL it receives, per CSR slot, the synapse's position in the caller's list."""
    cdef Py_ssize_t i
    cdef bint recurrent = False
    qsort(edges, m, sizeof(Edge), edge_order)
    memset(k.off, 0, (n + 1) * sizeof(int))
    for i in range(m):
        k.src[i] = edges[i].frm
        k.w[i] = <float>raw_w[edges[i].pos]
        k.role[i] = <signed char>edges[i].role
        k.off[edges[i].to - n_in + 1] += 1
        if edges[i].frm >= edges[i].to:
            recurrent = True
        if order != NULL:
            order[i] = edges[i].pos
    for i in range(n):
        k.off[i + 1] += k.off[i]
    k.header[0], k.header[1], k.header[2], k.header[3], k.header[4] = n_in, n_out, n, m, recurrent


def flatten(creature, bint keep_order=False):
    """The creature compiled in one pass into two byte strings: (index, parameters).

    `index` (counts, squash ops, CSR index arrays, roles) is the topology key — what a
    template shares; `parameters` holds the float32 biases and weights, so (index, parameters)
    is everything the kernels read: the structure key. Both are exact (no digest, no
    collisions) and independent of uuids and of the order synapses are listed in: synapses sit
    in canonical CSR order (target, source, role), so creatures of one topology fill the same
    slots. `network_from_keys` builds the network on them without copying. With `keep_order`
    a third item, int32[m], maps each CSR slot to its synapse's index in `creature.synapses`.
    """
    cdef int n_in = creature.input, n_out = creature.output
    cdef list neurons = creature.neurons
    cdef list synapses = creature.synapses
    cdef Py_ssize_t n = len(neurons), m = len(synapses), k, i
    cdef int op, frm, to
    cdef dict index = {}
    cdef dict fields
    cdef Keys out
    cdef cnp.ndarray order = None
    if n_in < 1 or n_out < 1 or n_out > n:
        raise ValueError(f"bad creature shape: {n_in} inputs, {n_out} outputs, {n} neurons")
    if n + n_in > 2147483647 or m > 2147483647:
        raise ValueError("creature too large")
    cdef tuple keys = new_keys(n, m, &out)
    if keep_order:
        order = np.empty(m, dtype=np.int32)
    cdef Edge* edges = <Edge*>malloc((m if m else 1) * sizeof(Edge))
    cdef double* raw_w = <double*>malloc((m if m else 1) * sizeof(double))
    if edges == NULL or raw_w == NULL:
        free(edges)
        free(raw_w)
        raise MemoryError()
    try:
        for k in range(n):
            fields = _fields(neurons[k], _NEURON_FIELDS)
            index[fields["uuid"]] = n_in + k
            if fields["type"] == "constant":
                out.op[k] = OP_CONST
            else:
                name = fields["squash"]
                op = _OP_OF.get("IDENTITY" if name is None else name, -1)
                if op < 0:
                    raise ValueError(f"neurons[{k}]: unknown squash {name!r}")
                out.op[k] = op
            out.bias[k] = fields["bias"]
        for i in range(m):
            fields = _fields(synapses[i], _SYNAPSE_FIELDS)
            found = index.get(fields["to_uuid"])
            if found is None:
                raise ValueError(f"synapses[{i}].toUUID: unknown or input neuron {fields['to_uuid']!r}")
            to = found
            found = index.get(fields["from_uuid"])
            if found is None:
                found = input_index(fields["from_uuid"], n_in)
                if found < 0:
                    raise ValueError(f"synapses[{i}].fromUUID: unknown neuron {fields['from_uuid']!r}")
            frm = found
            edges[i].to = to
            edges[i].frm = frm
            edges[i].role = _ROLE_OF[fields["type"]]
            edges[i].pos = i
            raw_w[i] = fields["weight"]
        finish_keys(&out, n_in, n_out, n, m, edges, raw_w,
                    <int*>cnp.PyArray_DATA(order) if keep_order else NULL)
    finally:
        free(edges)
        free(raw_w)
    return keys + (order,) if keep_order else keys


def network_from_keys(bytes index, bytes params, Network template=None):
    """The Network on `flatten`'s byte strings; with a template of the same index, the
    template's index and range arrays are shared (the caller's `index` is then dropped)."""
    cdef Network net = Network.__new__(Network)
    cdef const int* header
    cdef bytes ranges
    cdef float* r
    cdef Py_ssize_t n, k
    cdef int op
    if template is not None:
        net._attach(params, template._index, template._ranges)
        return net
    header = <const int*>PyBytes_AS_STRING(index)
    n = header[2]
    ranges = PyBytes_FromStringAndSize(NULL, 8 * n)
    r = <float*>PyBytes_AS_STRING(ranges)
    for k in range(n):
        op = header[HEADER + k]
        op = OP_IDENTITY if op == OP_CONST else op   # a constant is limited as IDENTITY
        r[k] = RANGE_LO[op]
        r[n + k] = RANGE_HI[op]
    net._attach(params, index, ranges)
    return net
