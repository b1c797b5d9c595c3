// measure_cpu_peak: an FMA loop per thread and oneDNN's sgemm.
#include "stride/core/cpu_peak.h"

#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace stride {

namespace {

constexpr long kIterations = 20'000'000;

// 16 independent accumulators hide the FMA latency; each iteration is 16
// vector FMAs of 16 lanes (AVX-512) or 8 lanes (AVX2), two flops each.
__attribute__((target("avx512f"))) float fma_loop_avx512(long iterations) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(long iterations) {
  __m256 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n)
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

double seconds_of(auto&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

CpuPeak measure_cpu_peak(int threads) {
  CpuPeak peak;
  const bool avx512 = __builtin_cpu_supports("avx512f");
  peak.isa = avx512 ? "avx512f" : "avx2";
  const double lanes = avx512 ? 16 : 8;
  const int previous = omp_get_max_threads();
  omp_set_num_threads(threads);
  // Each thread keeps its result, so the loops cannot be optimised away.
  std::vector<float> results(static_cast<size_t>(threads));
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    best = std::min(best, seconds_of([&] {
#pragma omp parallel num_threads(threads)
      results[static_cast<size_t>(omp_get_thread_num())] =
          avx512 ? fma_loop_avx512(kIterations) : fma_loop_avx2(kIterations);
    }));
  }
  volatile float sink = results[0];
  (void)sink;
  peak.fma_gflops = 2.0 * 16 * lanes * static_cast<double>(kIterations) * threads / best / 1e9;

  const dnnl_dim_t n = 2048;
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a), c(a);
  best = 1e30;
  for (int round = 0; round < 3; ++round)
    best = std::min(best, seconds_of([&] {
      dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    }));
  peak.gemm_gflops = 2.0 * static_cast<double>(n) * n * n / best / 1e9;
  omp_set_num_threads(previous);
  return peak;
}

}  // namespace stride
