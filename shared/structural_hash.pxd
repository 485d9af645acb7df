# What the structural hash reads of a creature, wherever its bytes come from (structural_hash.pyx).

cdef struct HashNeuron:
    const char* uuid  # UTF-8, as named after loading (outputs `output-k`)
    Py_ssize_t uuid_len
    int type          # neatai.v1.NeuronType number
    const char* squash  # canonical squash name; IDENTITY for constants and missing squashes
    Py_ssize_t squash_len
    double bias


cdef struct HashSynapse:
    const char* frm
    Py_ssize_t frm_len
    const char* to
    Py_ssize_t to_len
    int type          # neatai.v1.SynapseType number (0: none given)
    double weight


cdef str structural_hash_of(int n_in, int n_out, const HashNeuron* neurons, Py_ssize_t n,
                           HashSynapse* synapses, Py_ssize_t m)
