// Thread-count plumbing shared by every kernel. Kernels take `threads`
// (0 = OpenMP's default) and never depend on it for their results.
#pragma once

#if SEZ_HAVE_OPENMP
#include <omp.h>
#endif

namespace sez {

inline int resolve_threads(int threads) {
#if SEZ_HAVE_OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

// Threads for a loop of about `work` elementary steps: a parallel region costs a
// barrier, which on a busy machine (other processes, more threads than cores)
// can take a scheduler time slice, so loops under about a millisecond run on one
// thread. Results never depend on the count.
inline int threads_for(long work, int threads) {
    constexpr long kMinParallelWork = 1000000;
    return work < kMinParallelWork ? 1 : resolve_threads(threads);
}

constexpr bool have_openmp() { return SEZ_HAVE_OPENMP != 0; }

}  // namespace sez
