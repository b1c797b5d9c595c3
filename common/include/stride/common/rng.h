// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011). A draw is a
// pure function of (key, counter), so the same numbers come out on any thread,
// any rank and on the GPU: augmentation of image i in epoch e, a dropout mask
// element, or a weight initialiser are all reproducible from the seed alone,
// and an Rng's whole state is three integers that a checkpoint can store.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define STRIDE_HOST_DEVICE __host__ __device__
#else
#define STRIDE_HOST_DEVICE
#endif

namespace stride {

struct Philox4 {
  uint32_t v[4];
};

// Philox4x32 with 10 rounds: four 32-bit words from a 64-bit key and a 128-bit counter.
STRIDE_HOST_DEVICE inline Philox4 philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from 24 random bits.
STRIDE_HOST_DEVICE inline float uniform_from_bits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Mixes several integers into one key (seed, epoch, purpose...), splitmix64 style.
STRIDE_HOST_DEVICE inline uint64_t mix_key(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A sequential stream over Philox: key fixed, counter advancing. Its state is
// (key, stream, counter) and restoring those three continues the same sequence.
class Rng {
 public:
  struct State {
    uint64_t key = 0;
    uint64_t stream = 0;
    uint64_t counter = 0;
  };

  explicit Rng(uint64_t seed = 0, uint64_t stream = 0) : state_{seed, stream, 0} {}
  explicit Rng(State state) : state_(state) {}

  State state() const { return state_; }

  uint32_t next_u32() {
    const uint64_t block = state_.counter >> 2;
    const int lane = static_cast<int>(state_.counter & 3);
    ++state_.counter;
    return philox4x32(state_.key, state_.stream, block).v[lane];
  }
  uint64_t next_u64() {
    const uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  float uniform() { return uniform_from_bits(next_u32()); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Unbiased integer in [0, n) by rejection.
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
      r = next_u64();
    } while (r >= limit);
    return r % n;
  }
  // Standard normal by Box-Muller.
  float normal() {
    const float u1 = (static_cast<float>(next_u32() >> 8) + 1.0f) * (1.0f / 16777217.0f);
    const float u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
  }

 private:
  State state_;
};

}  // namespace stride
