// Max pooling's forward (maxima and their record) and backward (a gather of
// dy through the record) on NHWC: AVX-512 over sixteen channels at a time
// where the CPU has it, scalar for the remaining channels and other CPUs,
// both giving the same bits (a maximum is picked, not computed, and the
// backward sums run over the same windows in the same order).
#include "cpu_max_pool.h"

#include <algorithm>
#include <limits>

#include "cpu_features.h"
#include "parallel.h"

namespace stride::cpu {
namespace {

constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();

// The in-bounds part of the window of output pixel (oh, ow): kernel rows
// [kh0, kh1) and columns [kw0, kw1), the kernel's origin at input (top, left).
struct Window {
  int64_t kh0, kh1, kw0, kw1, top, left;
};

Window window_of(const PoolParams& p, const MaxPoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t top = oh * p.stride_h - p.pad_top, left = ow * p.stride_w - p.pad_left;
  return {std::max<int64_t>(0, -top),
          std::min(p.kernel_h, g.h - top),
          std::max<int64_t>(0, -left),
          std::min(p.kernel_w, g.w - left),
          top,
          left};
}

// The windows along one axis that cover input position i: [first, last]
// (empty when first > last, as for a row that a stride skips).
void covering(int64_t i, int64_t pad, int64_t kernel, int64_t stride, int64_t out, int64_t& first, int64_t& last) {
  const int64_t shifted = i + pad;  // window o covers shifted in [o * stride, o * stride + kernel - 1]
  const int64_t low = shifted - kernel + 1;
  first = low <= 0 ? 0 : (low + stride - 1) / stride;
  last = std::min(shifted / stride, out - 1);
}

// covering() for i = 0, 1, 2, ... in turn, without its divisions (which cost
// more than the gradient's loads at a few channels per pixel).
struct CoveringWalk {
  int64_t pad, kernel, stride, out;
  int64_t first = 0, next = 0;  // first window covering i; first window starting past i

  void step(int64_t i, int64_t& lo, int64_t& hi) {
    const int64_t shifted = i + pad;
    while (next * stride <= shifted) ++next;
    while (first * stride + kernel - 1 < shifted) ++first;
    lo = first;
    hi = std::min(next - 1, out - 1);
  }
};

CoveringWalk columns_of(const PoolParams& p, const MaxPoolGeometry& g) {
  return {p.pad_left, p.kernel_w, p.stride_w, g.out_w};
}

// The output pixels whose windows cover an input pixel.
struct Cover {
  int64_t oh0, oh1, ow0, ow1;
};

// The position input (ih, iw) has in the window of output (oh, ow).
int64_t position_in(const PoolParams& p, int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
  return (ih - (oh * p.stride_h - p.pad_top)) * p.kernel_w + (iw - (ow * p.stride_w - p.pad_left));
}

// ---- the two orders of work, written once for both paths ----

// The output pixels of rows [begin, end) (row = b * out_h + oh) in order:
// start_row(row), then pixel(window, image, at) for each pixel of the row,
// `image` the offset of its image in x (or dx), `at` its offset in y (and
// in the record).
template <typename StartRow, typename Pixel>
[[gnu::always_inline]] inline void each_output_pixel(const PoolParams& p, const MaxPoolGeometry& g, int64_t begin,
                                                     int64_t end, StartRow&& start_row, Pixel&& pixel) {
  for (int64_t row = begin; row < end; ++row) {
    start_row(row);
    const int64_t image = row / g.out_h * g.h * g.w * g.c;
    for (int64_t ow = 0; ow < g.out_w; ++ow)
      pixel(window_of(p, g, row % g.out_h, ow), image, (row * g.out_w + ow) * g.c);
  }
}

// The input pixels of rows [begin, end) (row = b * h + ih) in order:
// pixel(cover, ih, iw, image, at), `image` the offset of its image in dy
// (and in the record), `at` its offset in dx.
template <typename Pixel>
[[gnu::always_inline]] inline void each_input_pixel(const PoolParams& p, const MaxPoolGeometry& g, int64_t begin,
                                                    int64_t end, Pixel&& pixel) {
  for (int64_t row = begin; row < end; ++row) {
    const int64_t ih = row % g.h, image = row / g.h * g.out_h * g.out_w * g.c;
    Cover cov{};
    covering(ih, p.pad_top, p.kernel_h, p.stride_h, g.out_h, cov.oh0, cov.oh1);
    CoveringWalk columns = columns_of(p, g);
    for (int64_t iw = 0; iw < g.w; ++iw) {
      columns.step(iw, cov.ow0, cov.ow1);
      pixel(cov, ih, iw, image, (row * g.w + iw) * g.c);
    }
  }
}

// ---- forward: the maxima and their record ----

struct ForwardArgs {
  const PoolParams& p;
  const MaxPoolGeometry& g;
  const float* x;
  float* y;
  uint8_t* argmax;  // null: inference
  int64_t c_end;    // channels [0, c_end) in vectors
};

// Channels [c0, C) of one output pixel.
void forward_scalar(const ForwardArgs& a, const Window& win, int64_t image, int64_t at, int64_t c0) {
  const MaxPoolGeometry& g = a.g;
  for (int64_t c = c0; c < g.c; ++c) {
    float best = kMinusInfinity;
    uint8_t arg = kNoArgmax;
    for (int64_t kh = win.kh0; kh < win.kh1; ++kh)
      for (int64_t kw = win.kw0; kw < win.kw1; ++kw) {
        const float v = a.x[image + ((win.top + kh) * g.w + win.left + kw) * g.c + c];
        if (v > best) {
          best = v;
          arg = static_cast<uint8_t>(kh * a.p.kernel_w + kw);
        }
      }
    a.y[at + c] = best;
    if (a.argmax != nullptr) a.argmax[at + c] = arg;
  }
}

// Channels [0, c_end) of one output pixel sixteen at a time, the rest scalar.
struct ForwardVector {
  const ForwardArgs& a;

  __attribute__((target("avx512f"))) void operator()(const Window& win, int64_t image, int64_t at) const {
    const MaxPoolGeometry& g = a.g;
    for (int64_t c = 0; c < a.c_end; c += 16) {
      __m512 best = _mm512_set1_ps(kMinusInfinity);
      __m512i arg = _mm512_set1_epi32(kNoArgmax);
      for (int64_t kh = win.kh0; kh < win.kh1; ++kh)
        for (int64_t kw = win.kw0; kw < win.kw1; ++kw) {
          const __m512 v = _mm512_loadu_ps(a.x + image + ((win.top + kh) * g.w + win.left + kw) * g.c + c);
          const __mmask16 larger = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);  // false for NaN, as v > best
          best = _mm512_mask_mov_ps(best, larger, v);
          arg = _mm512_mask_mov_epi32(arg, larger, _mm512_set1_epi32(static_cast<int>(kh * a.p.kernel_w + kw)));
        }
      _mm512_storeu_ps(a.y + at + c, best);
      if (a.argmax != nullptr)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(a.argmax + at + c), _mm512_cvtepi32_epi8(arg));
    }
    if (a.c_end < g.c) forward_scalar(a, win, image, at, a.c_end);
  }
};

void no_row_start(int64_t) {}

__attribute__((target("avx512f"), flatten)) void forward_rows_avx512(const ForwardArgs& a, int64_t begin, int64_t end) {
  each_output_pixel(a.p, a.g, begin, end, no_row_start, ForwardVector{a});
}

// ---- backward where windows overlap: a gather over the covering windows ----

struct BackwardArgs {
  const PoolParams& p;
  const MaxPoolGeometry& g;
  const float* dy;
  const uint8_t* argmax;
  float* dx;
  int64_t c_end;  // channels [0, c_end) in vectors
  bool zero;      // disjoint windows: zero the pixels no window covers
};

// Channels [c0, C) of one input pixel.
void gather_scalar(const BackwardArgs& a, const Cover& cov, int64_t ih, int64_t iw, int64_t image, int64_t at,
                   int64_t c0) {
  const MaxPoolGeometry& g = a.g;
  for (int64_t c = c0; c < g.c; ++c) {
    float sum = 0.0f;
    for (int64_t oh = cov.oh0; oh <= cov.oh1; ++oh)
      for (int64_t ow = cov.ow0; ow <= cov.ow1; ++ow) {
        const int64_t from = image + (oh * g.out_w + ow) * g.c + c;
        if (a.argmax[from] == position_in(a.p, ih, iw, oh, ow)) sum += a.dy[from];
      }
    a.dx[at + c] = sum;
  }
}

// Channels [0, c_end) of one input pixel sixteen at a time, the rest scalar.
struct GatherVector {
  const BackwardArgs& a;

  __attribute__((target("avx512f"))) void operator()(const Cover& cov, int64_t ih, int64_t iw, int64_t image,
                                                     int64_t at) const {
    const MaxPoolGeometry& g = a.g;
    for (int64_t c = 0; c < a.c_end; c += 16) {
      __m512 sum = _mm512_setzero_ps();
      for (int64_t oh = cov.oh0; oh <= cov.oh1; ++oh)
        for (int64_t ow = cov.ow0; ow <= cov.ow1; ++ow) {
          const int64_t from = image + (oh * g.out_w + ow) * g.c + c;
          const __m512i arg = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.argmax + from)));
          const __mmask16 picked =
              _mm512_cmpeq_epi32_mask(arg, _mm512_set1_epi32(static_cast<int>(position_in(a.p, ih, iw, oh, ow))));
          sum = _mm512_mask_add_ps(sum, picked, sum, _mm512_loadu_ps(a.dy + from));
        }
      _mm512_storeu_ps(a.dx + at + c, sum);
    }
    if (a.c_end < g.c) gather_scalar(a, cov, ih, iw, image, at, a.c_end);
  }
};

__attribute__((target("avx512f"), flatten)) void gather_rows_avx512(const BackwardArgs& a, int64_t begin, int64_t end) {
  each_input_pixel(a.p, a.g, begin, end, GatherVector{a});
}

// ---- backward where windows do not overlap (stride >= kernel) ----
//
// Each input pixel lies in at most one window, so each window writes its
// pixels directly: dy where the record points, 0 elsewhere. Output row
// (b, oh) owns input rows [first_input_row(oh), first_input_row(oh + 1)),
// which it zeroes first unless the windows tile the input exactly.

bool windows_disjoint(const PoolParams& p) { return p.stride_h >= p.kernel_h && p.stride_w >= p.kernel_w; }

bool windows_tile(const PoolParams& p, const MaxPoolGeometry& g) {
  return p.stride_h == p.kernel_h && p.stride_w == p.kernel_w && g.out_h * p.kernel_h - p.pad_top >= g.h &&
         g.out_w * p.kernel_w - p.pad_left >= g.w;
}

int64_t first_input_row(const PoolParams& p, const MaxPoolGeometry& g, int64_t oh) {
  if (oh == 0) return 0;
  if (oh == g.out_h) return g.h;
  return std::clamp<int64_t>(oh * p.stride_h - p.pad_top, 0, g.h);
}

// The start of each output row: its input rows zeroed, where needed.
struct ZeroOwnedRows {
  const BackwardArgs& a;

  void operator()(int64_t row) const {
    if (!a.zero) return;
    const MaxPoolGeometry& g = a.g;
    const int64_t b = row / g.out_h, oh = row % g.out_h;
    const int64_t r0 = first_input_row(a.p, g, oh), r1 = first_input_row(a.p, g, oh + 1);
    std::fill(a.dx + (b * g.h + r0) * g.w * g.c, a.dx + (b * g.h + r1) * g.w * g.c, 0.0f);
  }
};

// Channels [c0, C) of one output pixel's window.
void scatter_scalar(const BackwardArgs& a, const Window& win, int64_t image, int64_t at, int64_t c0) {
  const MaxPoolGeometry& g = a.g;
  for (int64_t kh = win.kh0; kh < win.kh1; ++kh)
    for (int64_t kw = win.kw0; kw < win.kw1; ++kw) {
      const int64_t k = kh * a.p.kernel_w + kw;
      float* out = a.dx + image + ((win.top + kh) * g.w + win.left + kw) * g.c;
      for (int64_t c = c0; c < g.c; ++c) out[c] = a.argmax[at + c] == k ? a.dy[at + c] : 0.0f;
    }
}

// Channels [0, c_end) of one output pixel's window sixteen at a time, the
// rest scalar.
struct ScatterVector {
  const BackwardArgs& a;

  __attribute__((target("avx512f"))) void operator()(const Window& win, int64_t image, int64_t at) const {
    const MaxPoolGeometry& g = a.g;
    for (int64_t c = 0; c < a.c_end; c += 16) {
      const __m512i arg = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.argmax + at + c)));
      const __m512 grad = _mm512_loadu_ps(a.dy + at + c);
      for (int64_t kh = win.kh0; kh < win.kh1; ++kh)
        for (int64_t kw = win.kw0; kw < win.kw1; ++kw) {
          const __mmask16 picked =
              _mm512_cmpeq_epi32_mask(arg, _mm512_set1_epi32(static_cast<int>(kh * a.p.kernel_w + kw)));
          _mm512_storeu_ps(a.dx + image + ((win.top + kh) * g.w + win.left + kw) * g.c + c,
                           _mm512_maskz_mov_ps(picked, grad));
        }
    }
    if (a.c_end < g.c) scatter_scalar(a, win, image, at, a.c_end);
  }
};

__attribute__((target("avx512f"), flatten)) void scatter_rows_avx512(const BackwardArgs& a, int64_t begin,
                                                                     int64_t end) {
  each_output_pixel(a.p, a.g, begin, end, ZeroOwnedRows{a}, ScatterVector{a});
}

int64_t vector_channels(const MaxPoolGeometry& g, bool vectorise) {
  return vectorise && has_avx512() ? g.c / 16 * 16 : 0;
}

}  // namespace

void max_pool_forward(const PoolParams& p, const MaxPoolGeometry& g, const float* x, float* y, uint8_t* argmax,
                      bool vectorise) {
  const ForwardArgs a{p, g, x, y, argmax, vector_channels(g, vectorise)};
  const int64_t rows = g.n * g.out_h;
  parallel_ranges(rows, rows * g.out_w * g.c * p.kernel_h * p.kernel_w, [&](int64_t begin, int64_t end) {
    if (a.c_end > 0) return forward_rows_avx512(a, begin, end);
    each_output_pixel(p, g, begin, end, no_row_start,
                      [&](const Window& win, int64_t image, int64_t at) { forward_scalar(a, win, image, at, 0); });
  });
}

void max_pool_backward(const PoolParams& p, const MaxPoolGeometry& g, const float* dy, const uint8_t* argmax, float* dx,
                       bool vectorise) {
  const int64_t c_end = vector_channels(g, vectorise);
  if (windows_disjoint(p) && g.out_h > 0) {
    const BackwardArgs a{p, g, dy, argmax, dx, c_end, !windows_tile(p, g)};
    const int64_t rows = g.n * g.out_h;
    parallel_ranges(rows, g.n * g.h * g.w * g.c, [&](int64_t begin, int64_t end) {
      if (a.c_end > 0) return scatter_rows_avx512(a, begin, end);
      each_output_pixel(p, g, begin, end, ZeroOwnedRows{a},
                        [&](const Window& win, int64_t image, int64_t at) { scatter_scalar(a, win, image, at, 0); });
    });
    return;
  }
  const BackwardArgs a{p, g, dy, argmax, dx, c_end, false};
  const int64_t rows = g.n * g.h;
  parallel_ranges(rows, rows * g.w * g.c, [&](int64_t begin, int64_t end) {
    if (a.c_end > 0) return gather_rows_avx512(a, begin, end);
    each_input_pixel(p, g, begin, end, [&](const Cover& cov, int64_t ih, int64_t iw, int64_t image, int64_t at) {
      gather_scalar(a, cov, ih, iw, image, at, 0);
    });
  });
}

}  // namespace stride::cpu
