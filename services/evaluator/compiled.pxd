# The compiled format every kernel module cimports: op and role codes, the flat network struct
# the nogil kernels read, the Network that owns its arrays, and the helpers that build the key
# strings (shared by `flatten` and the wire reader). Layout of the strings: compiled.pyx.

cdef enum:
    # Op codes: 0..38 are neatai.squash ids; a constant neuron gets OP_CONST.
    OP_IDENTITY = 0
    OP_MINIMUM = 32
    OP_MAXIMUM = 33
    OP_IF = 34
    OP_HYPOT = 35
    OP_HYPOTV2 = 36
    OP_MEAN = 37
    OP_SOFTMAX = 38
    OP_CONST = 64

cdef enum:
    ROLE_STANDARD = 0
    ROLE_POSITIVE = 1
    ROLE_NEGATIVE = 2
    ROLE_CONDITION = 3

cdef enum:
    HEADER = 5   # int32 words before the ops in the index string


cdef struct Net:
    int n_in
    int n_out
    int n_nodes          # non-input neurons
    int recurrent
    const int* op
    float* bias          # writable only in a trainable copy (Network.trainable)
    const float* lo
    const float* hi
    const int* off       # n_nodes + 1: inward synapses of neuron k are off[k]..off[k+1]
    const int* src
    float* w
    const signed char* role


cdef struct Edge:
    int to
    int frm
    int role
    int pos


cdef struct Keys:
    # Write pointers into the two key strings of one network (layout in compiled.pyx).
    int* header
    int* op
    int* off
    int* src
    signed char* role
    float* bias
    float* w


cdef class Network:
    cdef Net net
    cdef readonly int n_inputs, n_outputs, n_neurons, n_synapses
    cdef readonly bint recurrent
    cdef object _params          # bytes (immutable, the cache key) or bytearray (trainable)
    cdef bytes _index, _ranges
    cdef object _outward
    cdef readonly object synapse_order, names, frozen_bias, frozen_weights
    cdef void _attach(self, object params, bytes index, bytes ranges)
    cdef _check_built(self)
    cdef _view(self, object owner, dtype, Py_ssize_t count, Py_ssize_t offset)


cdef tuple new_keys(Py_ssize_t n, Py_ssize_t m, Keys* k)
cdef void finish_keys(Keys* k, int n_in, int n_out, Py_ssize_t n, Py_ssize_t m, Edge* edges,
                      const double* raw_w, int* order) noexcept
cdef int input_index(str name, int n_in) except -2
