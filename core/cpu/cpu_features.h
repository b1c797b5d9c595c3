// What the CPU's instruction set offers the backend's own kernels.
#pragma once

namespace stride::cpu {

// Whether the CPU runs AVX-512 Foundation (the kernels' vector paths).
inline bool has_avx512() {
  static const bool present = __builtin_cpu_supports("avx512f");
  return present;
}

}  // namespace stride::cpu
