// What the CPU's instruction set offers the backend's own kernels: the
// AVX-512 intrinsics, and whether this CPU runs them.
#pragma once

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace stride::cpu {

// Whether the CPU runs AVX-512 Foundation (the kernels' vector paths).
inline bool has_avx512() {
  static const bool present = __builtin_cpu_supports("avx512f");
  return present;
}

}  // namespace stride::cpu
