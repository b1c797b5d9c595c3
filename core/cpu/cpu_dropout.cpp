// Dropout's mask on the CPU: element e keeps its value (scaled by 1/(1-rate))
// when lane e % 4 of Philox4x32-10 block e / 4 (e counted over the global
// batch) maps to a uniform >= rate; the CUDA kernel and the layer tests draw
// the same numbers from common/rng.h.
//
// Sixteen Philox blocks at a time in AVX-512 where the CPU has it: the
// rounds' 32x32->64 products are vpmuludq on the even and odd lanes, and a
// 4x16 transpose puts the sixty-four words back in element order. The draws
// are bit-identical to the scalar path (24-bit integers and a power-of-two
// scale are exact in float), which stays for the head, the tail, CPUs
// without AVX-512 and the rare chunk whose block counter carries into its
// upper 32 bits.
#include "cpu_dropout.h"

#include "cpu_features.h"
#include "stride/common/rng.h"

namespace stride::cpu {
namespace {

void dropout_scalar(const DropoutArgs& a, int64_t begin, int64_t end) {
  int64_t i = begin;
  while (i < end) {
    const uint64_t e = a.element_offset + static_cast<uint64_t>(i);
    const Philox4 block = philox4x32(a.key, 0, e >> 2);
    for (uint64_t lane = e & 3; lane < 4 && i < end; ++lane, ++i) {
      a.mask[i] = uniform_from_bits(block.v[lane]) >= a.rate ? a.keep_scale : 0.0f;
      a.out[i] = a.in[i] * a.mask[i];
    }
  }
}

// The even and odd 32-bit lanes' products with m, as (high words, low words).
__attribute__((target("avx512f"))) inline void mul_hi_lo(__m512i c, __m512i m, __m512i& hi, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(c, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// Elements [begin, end): begin's element index is a multiple of 4 and the
// range a whole number of 64-element chunks.
__attribute__((target("avx512f"))) void dropout_avx512(const DropoutArgs& a, int64_t begin, int64_t end) {
  const __m512i mul0 = _mm512_set1_epi64(0xD2511F53), mul1 = _mm512_set1_epi64(0xCD9E8D57);
  const __m512i lane_index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 rate = _mm512_set1_ps(a.rate), keep = _mm512_set1_ps(a.keep_scale);
  const __m512 unit = _mm512_set1_ps(1.0f / 16777216.0f);
  for (int64_t i = begin; i < end; i += 64) {
    const uint64_t first_block = (a.element_offset + static_cast<uint64_t>(i)) >> 2;
    if (static_cast<uint32_t>(first_block) > 0xFFFFFFFFu - 15u) {  // the low word carries inside this chunk
      dropout_scalar(a, i, i + 64);
      continue;
    }
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block))), lane_index);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block >> 32)));
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    uint32_t k0 = static_cast<uint32_t>(a.key), k1 = static_cast<uint32_t>(a.key >> 32);
    for (int round = 0; round < 10; ++round) {
      __m512i hi0, lo0, hi1, lo1;
      mul_hi_lo(c0, mul0, hi0, lo0);
      mul_hi_lo(c2, mul1, hi1, lo1);
      c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(k0)));
      c1 = lo1;
      c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // Lane j of c0..c3 holds words 0..3 of block j: transpose to element order.
    const __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpacklo_epi32(c2, c3);
    const __m512i t2 = _mm512_unpackhi_epi32(c0, c1), t3 = _mm512_unpackhi_epi32(c2, c3);
    const __m512i r0 = _mm512_unpacklo_epi64(t0, t1), r1 = _mm512_unpackhi_epi64(t0, t1);
    const __m512i r2 = _mm512_unpacklo_epi64(t2, t3), r3 = _mm512_unpackhi_epi64(t2, t3);
    const __m512i q0 = _mm512_shuffle_i32x4(r0, r1, 0x44), q1 = _mm512_shuffle_i32x4(r2, r3, 0x44);
    const __m512i q2 = _mm512_shuffle_i32x4(r0, r1, 0xEE), q3 = _mm512_shuffle_i32x4(r2, r3, 0xEE);
    const __m512i words[4] = {_mm512_shuffle_i32x4(q0, q1, 0x88), _mm512_shuffle_i32x4(q0, q1, 0xDD),
                              _mm512_shuffle_i32x4(q2, q3, 0x88), _mm512_shuffle_i32x4(q2, q3, 0xDD)};
    for (int part = 0; part < 4; ++part) {
      const int64_t at = i + 16 * part;
      const __m512 uniform = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(words[part], 8)), unit);
      const __m512 m = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(uniform, rate, _CMP_GE_OQ), keep);
      _mm512_storeu_ps(a.mask + at, m);
      _mm512_storeu_ps(a.out + at, _mm512_mul_ps(_mm512_loadu_ps(a.in + at), m));
    }
  }
}

}  // namespace

void dropout_range(const DropoutArgs& a, int64_t begin, int64_t end, bool vectorise) {
  if (!vectorise || !has_avx512()) return dropout_scalar(a, begin, end);
  // Scalar up to a block boundary, whole 64-element chunks vectorised, scalar tail.
  int64_t head = begin;
  while (head < end && ((a.element_offset + static_cast<uint64_t>(head)) & 3) != 0) ++head;
  const int64_t body_end = head + (end - head) / 64 * 64;
  dropout_scalar(a, begin, head);
  dropout_avx512(a, head, body_end);
  dropout_scalar(a, body_end, end);
}

}  // namespace stride::cpu
