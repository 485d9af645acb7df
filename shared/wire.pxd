# The protobuf wire form of the API's hot messages (wire.pyx): field numbers read from the
# generated descriptors, and the readers every decoder inlines.
from libc.string cimport memcpy

cdef enum:
    VARINT = 0
    FIXED64 = 1
    LEN = 2
    FIXED32 = 5


cdef struct Span:
    Py_ssize_t at
    Py_ssize_t len


cdef struct CreatureFields:
    int input, output, neurons, synapses, semantic_version, forward_only, tags, memetic, hyperparameters

cdef struct NeuronFields:
    int uuid, type, bias, squash, frozen, tags

cdef struct SynapseFields:
    int from_uuid, to_uuid, weight, type, frozen, tags

cdef struct TagFields:
    int name, value

cdef struct MemeticFields:
    int generation, score, weights, biases, ancestry

cdef struct MemeticWeightFields:
    int from_uuid, to_uuid, weight

cdef struct EvaluateFields:
    int creatures

cdef struct ResultFields:  # EvaluateResponse.results, then CreatureResult's fields
    int results, error, score, compile_seconds, activate_seconds, structural_hash

cdef struct WireFields:
    CreatureFields creature
    NeuronFields neuron
    SynapseFields synapse
    TagFields tag
    MemeticFields memetic
    MemeticWeightFields memetic_weight
    EvaluateFields evaluate
    ResultFields result


cdef const WireFields* wire_fields() noexcept nogil


cdef inline bint read_varint(const unsigned char* p, Py_ssize_t end, Py_ssize_t* at,
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


cdef inline bint read_field(const unsigned char* p, Py_ssize_t end, Py_ssize_t* at, int* number,
                            int* wire, unsigned long long* value, Span* span) noexcept nogil:
    """Read one field: a varint or fixed64 into `value`, a length-delimited one into `span`;
    fixed32 is skipped. False on malformed input (as protobuf's parser would refuse it) or a group."""
    cdef unsigned long long key
    if not read_varint(p, end, at, &key) or key >> 3 == 0 or key >> 3 > 536870911:
        return False  # field numbers are 1 .. 2^29 - 1
    number[0] = <int>(key >> 3)
    wire[0] = <int>(key & 7)
    if wire[0] == VARINT:
        return read_varint(p, end, at, value)
    if wire[0] == FIXED64:
        if end - at[0] < 8:
            return False
        memcpy(value, p + at[0], 8)
        at[0] += 8
        return True
    if wire[0] == LEN:
        if not read_varint(p, end, at, value) or value[0] > <unsigned long long>(end - at[0]):
            return False
        span.at, span.len = at[0], <Py_ssize_t>value[0]
        at[0] += span.len
        return True
    if wire[0] == FIXED32:
        if end - at[0] < 4:
            return False
        at[0] += 4
        return True
    return False


cdef inline double as_double(unsigned long long bits) noexcept nogil:
    cdef double d
    memcpy(&d, &bits, 8)
    return d
