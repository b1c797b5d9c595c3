// CPU backend: memory, elementwise ops, loss, metrics, dropout and optimizer
// updates as OpenMP loops (oneDNN has no primitive for these). Parallel only
// above a size where a fork-join pays for itself.
#include "cpu_backend.h"
#include "cpu_dropout.h"
#include "parallel.h"
#include "stride/core/backend_checks.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace stride::cpu {
namespace {

void expect_same_elements(const Tensor& a, const Tensor& b, const char* op) {
  if (a.elements() != b.elements())
    fail<ShapeError>("{}: {} and {} differ in size", op, a.shape().str(), b.shape().str());
}

float activate(const ActivationParams& p, float v) {
  switch (p.kind) {
    case ActivationKind::relu:
      return v > 0.0f ? v : 0.0f;
    case ActivationKind::leaky_relu:
      return v > 0.0f ? v : p.alpha * v;
    case ActivationKind::elu:
      return v > 0.0f ? v : p.alpha * std::expm1(v);
  }
  return v;
}

// libgomp's workers sleep between parallel regions under OMP_WAIT_POLICY=passive.
bool openmp_waits_passively() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy != nullptr && (std::string_view(policy) == "passive" || std::string_view(policy) == "PASSIVE");
}

class CpuEvent final : public BackendEvent {
 public:
  void record() override {}
  void wait() override {}
  bool done() override { return true; }
};

}  // namespace

CpuBackend::CpuBackend(int threads)
    : engine_(dnnl::engine::kind::cpu, 0),
      stream_(engine_),
      cache_(engine_, openmp_waits_passively()),
      weights_(engine_),
      threads_(threads) {
  if (threads > 0) omp_set_num_threads(threads);
  threads_ = omp_get_max_threads();
}

std::string CpuBackend::name() const {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("cpu (oneDNN {}.{}.{}, {} threads)", v->major, v->minor, v->patch, threads_);
}

void* CpuBackend::allocate(size_t bytes) {
  // 64-byte alignment: a cache line and an AVX-512 register.
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* pointer = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (pointer == nullptr) fail<Error>("out of host memory allocating {} bytes", bytes);
  ++allocations_;
  return pointer;
}

void CpuBackend::deallocate(void* pointer) noexcept { std::free(pointer); }

std::unique_ptr<BackendEvent> CpuBackend::make_event() { return std::make_unique<CpuEvent>(); }

BackendCounters CpuBackend::counters() const { return {allocations_, cache_.built() + weights_.built()}; }

void CpuBackend::copy_from_host(const void* source, Tensor& destination) {
  ++generation_;
  std::memcpy(destination.raw(), source, destination.bytes());
}

void CpuBackend::copy_to_host(const Tensor& source, void* destination) {
  std::memcpy(destination, source.raw(), source.bytes());
}

void CpuBackend::copy(const Tensor& source, Tensor& destination) {
  ++generation_;
  if (source.bytes() != destination.bytes())
    fail<ShapeError>("copy: {} and {} differ in size", source.shape().str(), destination.shape().str());
  if (source.raw() != destination.raw()) std::memcpy(destination.raw(), source.raw(), source.bytes());
}

void CpuBackend::fill(Tensor& tensor, float value) {
  ++generation_;
  if (tensor.dtype() == DType::f32) {
    float* p = tensor.f32();
    parallel_ranges(tensor.elements(), [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, value); });
  } else if (tensor.dtype() == DType::i32) {
    std::fill_n(tensor.i32(), tensor.elements(), static_cast<int32_t>(value));
  } else if (tensor.dtype() == DType::f64) {
    std::fill_n(tensor.f64(), tensor.elements(), static_cast<double>(value));
  } else {
    std::memset(tensor.raw(), static_cast<int>(value), tensor.bytes());
  }
}

void CpuBackend::softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing,
                                       float grad_scale, Tensor& probabilities, Tensor& losses, Tensor& dlogits) {
  if (logits.shape().rank() != 2) fail<ShapeError>("softmax_cross_entropy: logits {} not [N,K]", logits.shape().str());
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (labels.elements() != n || losses.elements() != n || probabilities.elements() != n * k ||
      dlogits.elements() != n * k)
    fail<ShapeError>("softmax_cross_entropy: logits {}, labels {}, losses {} do not fit", logits.shape().str(),
                     labels.shape().str(), losses.shape().str());
  const float* z = logits.f32();
  const int32_t* y = labels.i32();
  float* p = probabilities.f32();
  float* loss = losses.f32();
  float* dz = dlogits.f32();
  const float off_value = label_smoothing / static_cast<float>(k);
  const float on_value = 1.0f - label_smoothing + off_value;
  for (int64_t row = 0; row < n; ++row) {
    if (y[row] < 0 || y[row] >= k) fail<DataError>("label {} out of range [0, {})", y[row], k);
  }
  auto rows = [&](int64_t first, int64_t last) {
    for (int64_t row = first; row < last; ++row) {
      const float* zr = z + row * k;
      float* pr = p + row * k;
      float* dr = dz + row * k;
      const float max = *std::max_element(zr, zr + k);
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(zr[j] - max));
      const float log_sum = max + static_cast<float>(std::log(sum));
      double row_loss = 0;
      for (int64_t j = 0; j < k; ++j) {
        const float log_p = zr[j] - log_sum;
        const float target = j == y[row] ? on_value : off_value;
        pr[j] = std::exp(log_p);
        row_loss -= static_cast<double>(target) * log_p;
        dr[j] = (pr[j] - target) * grad_scale;
      }
      loss[row] = static_cast<float>(row_loss);
    }
  };
  if (n * k > kParallelElements)
    parallel_ranges(n, rows);
  else
    rows(0, n);
}

void CpuBackend::accumulate_classification(const Tensor& logits, const Tensor& labels, const Tensor& losses,
                                           Tensor& totals, Tensor& confusion) {
  check_classification_shapes(logits, labels, losses, totals, confusion);
  const int64_t n = logits.dim(0), k = logits.dim(1);
  const float* z = logits.f32();
  const int32_t* y = labels.i32();
  const float* loss = losses.f32();
  int32_t* counts = confusion.defined() ? confusion.i32() : nullptr;
  double loss_sum = 0, correct = 0;
  for (int64_t row = 0; row < n; ++row) {
    const float* zr = z + row * k;
    const auto predicted = static_cast<int32_t>(std::max_element(zr, zr + k) - zr);
    loss_sum += loss[row];
    correct += predicted == y[row] ? 1.0 : 0.0;
    if (counts != nullptr && y[row] >= 0 && y[row] < k) ++counts[y[row] * k + predicted];
  }
  double* t = totals.f64();
  t[0] += loss_sum;
  t[1] += correct;
}

void CpuBackend::dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                                 Tensor& mask) {
  expect_same_elements(x, y, "dropout");
  expect_same_elements(x, mask, "dropout mask");
  const DropoutArgs args{rate,      rate < 1.0f ? 1.0f / (1.0f - rate) : 0.0f, key, element_offset, x.f32(), y.f32(),
                         mask.f32()};
  parallel_ranges(x.elements(), [&](int64_t begin, int64_t end) { dropout_range(args, begin, end); });
}

void CpuBackend::batchnorm_backward_inference(const BatchNormParams& p, const Tensor& dy, const Tensor& gamma,
                                              const Tensor& running_var, Tensor& dx) {
  expect_same_elements(dy, dx, "batchnorm_backward_inference");
  const int64_t channels = gamma.elements();
  if (running_var.elements() != channels || dy.elements() % channels != 0)
    fail<ShapeError>("batchnorm_backward_inference: {} with {} channels", dy.shape().str(), channels);
  const float* g = gamma.f32();
  const float* rv = running_var.f32();
  const float* pdy = dy.f32();
  float* pdx = dx.f32();
  const int64_t rows = dy.elements() / channels;
  auto body = [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r)
      for (int64_t c = 0; c < channels; ++c)
        pdx[r * channels + c] = pdy[r * channels + c] * g[c] / std::sqrt(rv[c] + p.epsilon);
  };
  if (dy.elements() > kParallelElements)
    parallel_ranges(rows, body);
  else
    body(0, rows);
}

void CpuBackend::batchnorm_backward_inference_parameters(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                         const Tensor& running_mean, const Tensor& running_var,
                                                         Tensor& dgamma, Tensor& dbeta) {
  expect_same_elements(x, dy, "batchnorm_backward_inference_parameters");
  const int64_t channels = running_mean.elements();
  if (running_var.elements() != channels || dgamma.elements() != channels || dbeta.elements() != channels ||
      x.elements() % channels != 0)
    fail<ShapeError>("batchnorm_backward_inference_parameters: {} with {} channels", x.shape().str(), channels);
  const float* px = x.f32();
  const float* pdy = dy.f32();
  const float* rm = running_mean.f32();
  const float* rv = running_var.f32();
  float* dg = dgamma.f32();
  float* db = dbeta.f32();
  const int64_t rows = x.elements() / channels;
  for (int64_t c = 0; c < channels; ++c) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double g = pdy[r * channels + c];
      sum_dy += g;
      sum_dy_xhat += g * (px[r * channels + c] - rm[c]);
    }
    dg[c] = static_cast<float>(sum_dy_xhat / std::sqrt(static_cast<double>(rv[c]) + p.epsilon));
    db[c] = static_cast<float>(sum_dy);
  }
}

void CpuBackend::multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  expect_same_elements(a, b, "multiply");
  expect_same_elements(a, out, "multiply");
  const float *pa = a.f32(), *pb = b.f32();
  float* po = out.f32();
  parallel_ranges(a.elements(), [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) po[i] = pa[i] * pb[i];
  });
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& out, const ActivationParams* activation) {
  expect_same_elements(a, b, "add");
  expect_same_elements(a, out, "add");
  const float *pa = a.f32(), *pb = b.f32();
  float* po = out.f32();
  const ActivationParams act = activation != nullptr ? *activation : ActivationParams{};
  parallel_ranges(a.elements(), [&](int64_t begin, int64_t end) {
    if (activation == nullptr) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) po[i] = pa[i] + pb[i];
    } else if (act.kind == ActivationKind::relu) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) po[i] = std::max(pa[i] + pb[i], 0.0f);
    } else {
      for (int64_t i = begin; i < end; ++i) po[i] = activate(act, pa[i] + pb[i]);
    }
  });
}

Tensor CpuBackend::scratch(const Shape& shape) {
  if (!scratch_.defined() || scratch_.elements() < shape.elements()) scratch_ = Tensor(*this, Shape{shape.elements()});
  return scratch_.view(shape);
}

void* CpuBackend::staging(Tensor& buffer, size_t bytes) {
  if (!buffer.defined() || buffer.bytes() < bytes)
    buffer = Tensor(*this, Shape{static_cast<int64_t>(bytes)}, DType::u8);
  return buffer.raw();
}

void CpuBackend::accumulate(const Tensor& result, Tensor& out, float beta) {
  expect_same_elements(result, out, "accumulate");
  const float* r = result.f32();
  float* o = out.f32();
  parallel_ranges(out.elements(), [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) o[i] = beta * o[i] + r[i];
  });
}

void CpuBackend::scale(Tensor& x, float alpha) {
  ++generation_;
  float* p = x.f32();
  parallel_ranges(x.elements(), [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) p[i] *= alpha;
  });
}

void CpuBackend::argmax_rows(const Tensor& x, Tensor& out) {
  if (x.shape().rank() != 2 || out.elements() != x.dim(0))
    fail<ShapeError>("argmax_rows: {} into {}", x.shape().str(), out.shape().str());
  const int64_t n = x.dim(0), k = x.dim(1);
  const float* px = x.f32();
  int32_t* po = out.i32();
  for (int64_t row = 0; row < n; ++row)
    po[row] = static_cast<int32_t>(std::max_element(px + row * k, px + (row + 1) * k) - (px + row * k));
}

void CpuBackend::clip_by_global_norm(std::span<const ArenaSegment> segments, Tensor& g, float max_norm, Tensor& norm) {
  check_arena_segments(segments, {&g}, "clip_by_global_norm");
  if (norm.elements() != 1) fail<ShapeError>("clip_by_global_norm: norm {} is not one value", norm.shape().str());
  float* pg = g.f32();
  // Per-thread partial sums in a fixed order of ranges: the same norm every run.
  double partial[64] = {};
  parallel_segments(segments, [&](const ArenaSegment&, int64_t begin, int64_t end) {
    double sum = 0;
    for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(pg[i]) * pg[i];
    partial[omp_get_thread_num() % 64] += sum;
  });
  double sum = 0;
  for (double v : partial) sum += v;
  const double total = std::sqrt(sum);
  norm.f32()[0] = static_cast<float>(total);
  if (!(max_norm > 0) || !(total > max_norm)) return;
  ++generation_;
  const auto factor = static_cast<float>(max_norm / total);
  parallel_segments(segments, [&](const ArenaSegment&, int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) pg[i] *= factor;
  });
}

void CpuBackend::adam_update(const AdamParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                             Tensor& m, Tensor& v) {
  check_arena_segments(segments, {&w, &g, &m, &v}, "adam");
  ++generation_;
  const float bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(p.step));
  const float sqrt_bias_correction2 = std::sqrt(1.0f - std::pow(p.beta2, static_cast<float>(p.step)));
  const float step_size = p.lr / bias_correction1;
  float* pw = w.f32();
  const float* pg = g.f32();
  float* pm = m.f32();
  float* pv = v.f32();
  parallel_segments(segments, [&](const ArenaSegment& s, int64_t begin, int64_t end) {
    const float decay = s.decay ? p.weight_decay : 0.0f;
    const float coupled_decay = p.decoupled ? 0.0f : decay;
    const float decoupled_factor = p.decoupled ? 1.0f - p.lr * decay : 1.0f;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float grad = pg[i] + coupled_decay * pw[i];
      pm[i] = p.beta1 * pm[i] + (1.0f - p.beta1) * grad;
      pv[i] = p.beta2 * pv[i] + (1.0f - p.beta2) * grad * grad;
      const float denom = std::sqrt(pv[i]) / sqrt_bias_correction2 + p.epsilon;
      pw[i] = pw[i] * decoupled_factor - step_size * pm[i] / denom;
    }
  });
}

void CpuBackend::sgd_update(const SgdParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                            Tensor& velocity) {
  if (p.momentum == 0.0f)
    check_arena_segments(segments, {&w, &g}, "sgd");
  else
    check_arena_segments(segments, {&w, &g, &velocity}, "sgd");
  ++generation_;
  float* pw = w.f32();
  const float* pg = g.f32();
  float* pvel = p.momentum == 0.0f ? nullptr : velocity.f32();
  parallel_segments(segments, [&](const ArenaSegment& s, int64_t begin, int64_t end) {
    const float decay = s.decay ? p.weight_decay : 0.0f;
    if (pvel == nullptr) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) pw[i] -= p.lr * (pg[i] + decay * pw[i]);
      return;
    }
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float grad = pg[i] + decay * pw[i];
      pvel[i] = p.momentum * pvel[i] + grad;
      pw[i] -= p.lr * (p.nesterov ? grad + p.momentum * pvel[i] : pvel[i]);
    }
  });
}

}  // namespace stride::cpu

namespace stride {

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<cpu::CpuBackend>(threads); }

}  // namespace stride
