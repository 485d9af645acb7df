# The creature as the evaluator scores it (wire_reader.pyx), for the modules that read it in C.

cdef class FlatCreature:
    cdef readonly int input, output, n_neurons, n_synapses, hidden_count
    cdef readonly bytes index, params
    cdef readonly double max_magnitude, mean_magnitude
    cdef readonly object semantic_version
    cdef double* _magnitudes        # |weight| of every synapse, then |bias| of every neuron
    cdef object _hash
    cdef object _creature           # the model it came from, or
    cdef bytes _data                # the bytes it was read from (hashed when asked)
    cdef Py_ssize_t _offset, _length
    cdef void _summarise(self) noexcept
