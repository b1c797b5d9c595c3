// CPU backend: synchronised batch norm's per-channel sums and the two passes
// that use them once they were summed across replicas, as plain loops (oneDNN
// computes batch statistics only over the batch it is given). Sums accumulate
// in double, rows outer and channels inner so x is read in memory order.
#include <algorithm>
#include <cmath>

#include "cpu_backend.h"

namespace stride::cpu {
namespace {

// Rows of an NHWC (or [N, F]) tensor with `channels` innermost.
int64_t rows_of(const Tensor& x, int64_t channels, const char* op) {
  if (channels <= 0 || x.elements() % channels != 0)
    fail<ShapeError>("{}: {} does not hold whole rows of {} channels", op, x.shape().str(), channels);
  return x.elements() / channels;
}

void expect_sums(const Tensor& sums, int64_t channels, const char* op) {
  if (sums.elements() != 2 * channels + 1)
    fail<ShapeError>("{}: sums {} for {} channels, expected ({})", op, sums.shape().str(), channels, 2 * channels + 1);
}

void expect_channels(std::initializer_list<const Tensor*> tensors, int64_t channels, const char* op) {
  for (const Tensor* t : tensors)
    if (t->elements() != channels) fail<ShapeError>("{}: {} for {} channels", op, t->shape().str(), channels);
}

}  // namespace

void CpuBackend::batchnorm_partial_sums(const Tensor& x, const Tensor& shift, Tensor& sums) {
  const int64_t channels = shift.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_partial_sums");
  expect_sums(sums, channels, "batchnorm_partial_sums");
  channel_sums_.assign(static_cast<size_t>(2 * channels), 0.0);
  double* s1 = channel_sums_.data();
  double* s2 = s1 + channels;
  const float* px = x.f32();
  const float* ps = shift.f32();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = px + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const double d = static_cast<double>(row[c]) - ps[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
  float* out = sums.f32();
  for (int64_t c = 0; c < 2 * channels; ++c) out[c] = static_cast<float>(channel_sums_[static_cast<size_t>(c)]);
  out[2 * channels] = static_cast<float>(rows);
}

void CpuBackend::batchnorm_mean_from_sums(const Tensor& sums, const Tensor& shift, Tensor& mean) {
  const int64_t channels = shift.elements();
  expect_sums(sums, channels, "batchnorm_mean_from_sums");
  expect_channels({&mean}, channels, "batchnorm_mean_from_sums");
  const float* s = sums.f32();
  const double count = s[2 * channels];
  if (!(count >= 1)) fail<ShapeError>("batchnorm_mean_from_sums: element count {}", count);
  const float* ps = shift.f32();
  float* pm = mean.f32();
  for (int64_t c = 0; c < channels; ++c) pm[c] = static_cast<float>(ps[c] + s[c] / count);
}

void CpuBackend::batchnorm_statistics_from_sums(const BatchNormParams& p, const Tensor& sums, const Tensor& shift,
                                                Tensor& mean, Tensor& var, Tensor& running_mean, Tensor& running_var) {
  const int64_t channels = shift.elements();
  expect_sums(sums, channels, "batchnorm_statistics_from_sums");
  expect_channels({&mean, &var, &running_mean, &running_var}, channels, "batchnorm_statistics_from_sums");
  const float* s = sums.f32();
  const double count = s[2 * channels];
  if (!(count >= 1)) fail<ShapeError>("batchnorm_statistics_from_sums: element count {}", count);
  const double unbias = count > 1 ? count / (count - 1) : 1.0;
  const float* ps = shift.f32();
  float* pm = mean.f32();
  float* pv = var.f32();
  float* rm = running_mean.f32();
  float* rv = running_var.f32();
  for (int64_t c = 0; c < channels; ++c) {
    const double centred = s[c] / count;
    const double batch_mean = ps[c] + centred;  // read shift before writing (it may alias mean or running_mean)
    const double batch_var = std::max(0.0, s[channels + c] / count - centred * centred);
    pm[c] = static_cast<float>(batch_mean);
    pv[c] = static_cast<float>(batch_var);
    rm[c] = static_cast<float>(p.momentum * rm[c] + (1.0 - p.momentum) * batch_mean);
    rv[c] = static_cast<float>(p.momentum * rv[c] + (1.0 - p.momentum) * batch_var * unbias);
  }
}

void CpuBackend::batchnorm_backward_partial_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                 const Tensor& mean, const Tensor& var, Tensor& sums) {
  const int64_t channels = mean.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_backward_partial_sums");
  if (dy.elements() != x.elements())
    fail<ShapeError>("batchnorm_backward_partial_sums: {} and {} differ in size", x.shape().str(), dy.shape().str());
  expect_channels({&var}, channels, "batchnorm_backward_partial_sums");
  expect_sums(sums, channels, "batchnorm_backward_partial_sums");
  channel_sums_.assign(static_cast<size_t>(2 * channels), 0.0);
  double* sum_dy = channel_sums_.data();
  double* sum_dy_xc = sum_dy + channels;  // sum of dy * (x - mean); scaled by 1 / std below
  const float* px = x.f32();
  const float* pdy = dy.f32();
  const float* pm = mean.f32();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = px + r * channels;
    const float* gr = pdy + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      sum_dy[c] += gr[c];
      sum_dy_xc[c] += static_cast<double>(gr[c]) * (static_cast<double>(xr[c]) - pm[c]);
    }
  }
  const float* pv = var.f32();
  float* out = sums.f32();
  for (int64_t c = 0; c < channels; ++c) {
    out[c] = static_cast<float>(sum_dy[c]);
    out[channels + c] = static_cast<float>(sum_dy_xc[c] / std::sqrt(static_cast<double>(pv[c]) + p.epsilon));
  }
  out[2 * channels] = static_cast<float>(rows);
}

void CpuBackend::batchnorm_backward_from_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                              const Tensor& gamma, const Tensor& mean, const Tensor& var,
                                              const Tensor& sums, Tensor& dx) {
  const int64_t channels = mean.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_backward_from_sums");
  if (dy.elements() != x.elements() || dx.elements() != x.elements())
    fail<ShapeError>("batchnorm_backward_from_sums: {}, {} and {} differ in size", x.shape().str(), dy.shape().str(),
                     dx.shape().str());
  expect_channels({&gamma, &var}, channels, "batchnorm_backward_from_sums");
  expect_sums(sums, channels, "batchnorm_backward_from_sums");
  const float* s = sums.f32();
  const double count = s[2 * channels];
  if (!(count >= 1)) fail<ShapeError>("batchnorm_backward_from_sums: element count {}", count);
  // dx = scale * (dy - mean_dy - xhat * mean_dy_xhat), with scale = gamma / std.
  channel_sums_.resize(static_cast<size_t>(4 * channels));
  double* inv_std = channel_sums_.data();
  double* scale = inv_std + channels;
  double* mean_dy = scale + channels;
  double* mean_dy_xhat = mean_dy + channels;
  const float* pg = gamma.f32();
  const float* pv = var.f32();
  for (int64_t c = 0; c < channels; ++c) {
    inv_std[c] = 1.0 / std::sqrt(static_cast<double>(pv[c]) + p.epsilon);
    scale[c] = pg[c] * inv_std[c];
    mean_dy[c] = s[c] / count;
    mean_dy_xhat[c] = s[channels + c] / count;
  }
  const float* px = x.f32();
  const float* pdy = dy.f32();
  const float* pm = mean.f32();
  float* pdx = dx.f32();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const double xhat = (static_cast<double>(px[o + c]) - pm[c]) * inv_std[c];
      pdx[o + c] = static_cast<float>(scale[c] * (pdy[o + c] - mean_dy[c] - xhat * mean_dy_xhat[c]));
    }
  }
}

}  // namespace stride::cpu
