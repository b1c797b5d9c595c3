// The CPU's fp32 peak, measured: what a training step's GFLOP/s is a share of.
// fma: independent vector FMAs on every thread (AVX-512 where the CPU has it,
// else AVX2), the arithmetic ceiling. gemm: oneDNN's sgemm on a 2048^3
// product, the best a library reaches on this machine.
#pragma once

namespace stride {

struct CpuPeak {
  double fma_gflops = 0;
  double gemm_gflops = 0;
  const char* isa = "";  // "avx512f" | "avx2"
};

CpuPeak measure_cpu_peak(int threads);

}  // namespace stride
