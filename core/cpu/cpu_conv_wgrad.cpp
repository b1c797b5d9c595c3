// Few-input-channel convolution weight gradients: see cpu_conv_wgrad.h.
#include "cpu_conv_wgrad.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "cpu_features.h"
#include "parallel.h"

namespace stride::cpu {
namespace {

constexpr int64_t kMaxTaps = 27;  // 3x3x3; 5x5x1 is 25
constexpr int64_t kMaxOutputs = 1024;

int64_t taps_of(const ConvParams& p, const ConvGeometry& g) { return p.kernel_h * p.kernel_w * g.c; }

// What one thread sums: output pixels [begin, end) in row-major order
// (pixel = (b * out_h + oh) * out_w + ow), into part[taps * K] and bias[K].
struct Slice {
  const ConvParams& p;
  const ConvGeometry& g;
  const float* x;
  const float* dy;
  int64_t begin, end;
  float* part;
  float* bias;
};

// The input offset of each tap from a window's top-left pixel, in the order
// of dw's rows (kh, kw, c).
std::array<int64_t, kMaxTaps> tap_offsets(const ConvParams& p, const ConvGeometry& g) {
  std::array<int64_t, kMaxTaps> off{};
  int64_t t = 0;
  for (int64_t kh = 0; kh < p.kernel_h; ++kh)
    for (int64_t kw = 0; kw < p.kernel_w; ++kw)
      for (int64_t c = 0; c < g.c; ++c) off[static_cast<size_t>(t++)] = (kh * g.w + kw) * g.c + c;
  return off;
}

// Output pixels in order, without dividing per pixel: the position of the
// current one, its image and top-left input position, and whether its
// window lies wholly inside the image (no padding to skip).
struct Cursor {
  const Slice& s;
  int64_t b, oh, ow;
  const float* image;
  int64_t top, left;
  bool inside;

  Cursor(const Slice& slice, int64_t pixel)
      : s(slice),
        b(pixel / (slice.g.out_w * slice.g.out_h)),
        oh(pixel / slice.g.out_w % slice.g.out_h),
        ow(pixel % slice.g.out_w) {
    place();
  }
  [[gnu::always_inline]] void next() {
    if (++ow == s.g.out_w) {
      ow = 0;
      if (++oh == s.g.out_h) oh = 0, ++b;
    }
    place();
  }
  [[gnu::always_inline]] void place() {
    const ConvGeometry& g = s.g;
    image = s.x + b * g.h * g.w * g.c;
    top = oh * s.p.stride_h - s.p.pad_top, left = ow * s.p.stride_w - s.p.pad_left;
    inside = top >= 0 && left >= 0 && top + s.p.kernel_h <= g.h && left + s.p.kernel_w <= g.w;
  }
  const float* corner() const { return image + (top * s.g.w + left) * s.g.c; }
};

// Input value of tap t of a window that reaches into the padding (0 there).
[[gnu::always_inline]] inline float padded_tap(const Slice& s, const Cursor& win, int64_t t) {
  const int64_t c = t % s.g.c, kw = t / s.g.c % s.p.kernel_w, kh = t / (s.g.c * s.p.kernel_w);
  const int64_t ih = win.top + kh, iw = win.left + kw;
  if (ih < 0 || iw < 0 || ih >= s.g.h || iw >= s.g.w) return 0.0f;
  return win.image[(ih * s.g.w + iw) * s.g.c + c];
}

void slice_scalar(const Slice& s) {
  const int64_t taps = taps_of(s.p, s.g), k = s.g.k;
  const auto off = tap_offsets(s.p, s.g);
  std::fill(s.part, s.part + taps * k, 0.0f);
  std::fill(s.bias, s.bias + k, 0.0f);
  Cursor win(s, s.begin);
  for (int64_t pixel = s.begin; pixel < s.end; ++pixel, win.next()) {
    const float* d = s.dy + pixel * k;
    for (int64_t j = 0; j < k; ++j) s.bias[j] += d[j];
    const float* corner = win.inside ? win.corner() : nullptr;
    for (int64_t t = 0; t < taps; ++t) {
      const float v = win.inside ? corner[off[static_cast<size_t>(t)]] : padded_tap(s, win, t);
      float* row = s.part + t * k;
      for (int64_t j = 0; j < k; ++j) row[j] = std::fma(v, d[j], row[j]);
    }
  }
}

// acc[t] += broadcast(values[offsets[t]]) * d for every tap t.
template <int Taps, int J>
[[gnu::always_inline]] __attribute__((target("avx512f"))) inline void add_taps(__m512 (&acc)[Taps][J],
                                                                               const __m512 (&d)[J],
                                                                               const float* values,
                                                                               const int64_t* offsets) {
#pragma GCC unroll 64
  for (int t = 0; t < Taps; ++t) {
    const __m512 v = _mm512_set1_ps(values[offsets[t]]);
#pragma GCC unroll 64
    for (int j = 0; j < J; ++j) acc[t][j] = _mm512_fmadd_ps(v, d[j], acc[t][j]);
  }
}

// Outputs [k0, k0 + 16 * J) for every tap, in registers over the slice.
template <int Taps, int J>
__attribute__((target("avx512f"))) void block_avx512(const Slice& s, const std::array<int64_t, kMaxTaps>& off,
                                                     int64_t k0) {
  static constexpr std::array<int64_t, kMaxTaps> kInOrder = [] {
    std::array<int64_t, kMaxTaps> a{};
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int64_t>(i);
    return a;
  }();
  const int64_t k = s.g.k;
  __m512 acc[Taps][J], bias[J];
#pragma GCC unroll 64
  for (int j = 0; j < J; ++j) {
    bias[j] = _mm512_setzero_ps();
#pragma GCC unroll 64
    for (int t = 0; t < Taps; ++t) acc[t][j] = _mm512_setzero_ps();
  }
  Cursor win(s, s.begin);
  for (int64_t pixel = s.begin; pixel < s.end; ++pixel, win.next()) {
    __m512 d[J];
#pragma GCC unroll 64
    for (int j = 0; j < J; ++j) {
      d[j] = _mm512_loadu_ps(s.dy + pixel * k + k0 + 16 * j);
      bias[j] = _mm512_add_ps(bias[j], d[j]);
    }
    if (win.inside) {
      add_taps<Taps, J>(acc, d, win.corner(), off.data());
    } else {
      // The window's values first: no call while the sums are live.
      float v[Taps];
#pragma GCC unroll 64
      for (int t = 0; t < Taps; ++t) v[t] = padded_tap(s, win, t);
      add_taps<Taps, J>(acc, d, v, kInOrder.data());
    }
  }
#pragma GCC unroll 64
  for (int j = 0; j < J; ++j) {
    _mm512_storeu_ps(s.bias + k0 + 16 * j, bias[j]);
#pragma GCC unroll 64
    for (int t = 0; t < Taps; ++t) _mm512_storeu_ps(s.part + t * k + k0 + 16 * j, acc[t][j]);
  }
}

// Registers: Taps * J accumulators, J biases, J gradients and a broadcast.
template <int Taps>
constexpr int kBlock = Taps * 2 + 5 <= 32 ? 2 : 1;

template <int Taps>
void slice_avx512(const Slice& s) {
  const auto off = tap_offsets(s.p, s.g);
  constexpr int64_t wide = 16 * kBlock<Taps>;
  int64_t k0 = 0;
  for (; k0 + wide <= s.g.k; k0 += wide) block_avx512<Taps, kBlock<Taps>>(s, off, k0);
  for (; k0 < s.g.k; k0 += 16) block_avx512<Taps, 1>(s, off, k0);
}

using SliceKernel = void (*)(const Slice&);

SliceKernel vector_kernel(int64_t taps) {
  switch (taps) {
    case 4:
      return slice_avx512<4>;
    case 9:
      return slice_avx512<9>;
    case 18:
      return slice_avx512<18>;
    case 25:
      return slice_avx512<25>;
    case 27:
      return slice_avx512<27>;
    default:
      return nullptr;
  }
}

}  // namespace

bool own_conv_weight_gradient(const ConvParams& p, const ConvGeometry& g) {
  return g.c <= 3 && vector_kernel(taps_of(p, g)) != nullptr && g.k % 16 == 0 && g.k <= kMaxOutputs;
}

size_t conv_weight_gradient_partials(const ConvParams& p, const ConvGeometry& g, int threads) {
  return static_cast<size_t>(threads) * static_cast<size_t>((taps_of(p, g) + 1) * g.k);
}

void conv_weight_gradient(const ConvParams& p, const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, float beta, float* partials, bool vectorise) {
  const int64_t taps = taps_of(p, g), k = g.k, pixels = g.n * g.out_h * g.out_w, stride = (taps + 1) * k;
  const SliceKernel kernel = vectorise && has_avx512() ? vector_kernel(taps) : slice_scalar;
  // One pixel range per thread; `used` threads' partial sums, added in order.
  int64_t used = 1;
  parallel_threads(pixels * taps * k, [&](int64_t thread, int64_t threads) {
    if (thread == 0) used = threads;
    const Range r = thread_range(pixels, thread, threads);
    float* part = partials + thread * stride;
    kernel(Slice{p, g, x, dy, r.begin, r.end, part, part + taps * k});
  });
  const auto finish = [&](float* out, int64_t offset, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      float sum = partials[offset + i];
      for (int64_t thread = 1; thread < used; ++thread) sum += partials[thread * stride + offset + i];
      out[i] = beta == 0.0f ? sum : beta * out[i] + sum;
    }
  };
  finish(dw, 0, taps * k);
  if (dbias != nullptr) finish(dbias, taps * k, k);
}

}  // namespace stride::cpu
