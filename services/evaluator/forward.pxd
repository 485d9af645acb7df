# The forward pass's building blocks, for the kernels that run it before their own sweep
# (backprop, predictive coding, activation recording).
from neatai.evaluator.compiled cimport Net

cdef void forward_tile(const Net* net, float* acts, float* scratch, int T, float* pre) noexcept nogil
cdef void load_tile(const Net* net, const float* X, const int* rows, int r0, int T,
                    float* acts, bint reset) noexcept nogil
cdef int tile_width(const Net* net, bint feedback, int tile) noexcept nogil
cdef double record_cost(int cost, const float* acts, int stride, int j, const float* y,
                        int n_out) noexcept nogil
cdef double dataset_error(int cost, double total, int n) noexcept nogil
