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

constexpr bool have_openmp() { return SEZ_HAVE_OPENMP != 0; }

}  // namespace sez
