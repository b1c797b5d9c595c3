// Naive reference kernels (see naive_ops.h): loops over every output and every
// window position, nothing clever, so a reader can check them against the maths.
#include "naive_ops.h"

#include <cmath>
#include <limits>

namespace stride::testing::naive {
namespace {

size_t at(const Shape& s, int64_t n, int64_t h, int64_t w, int64_t c) {
  return static_cast<size_t>(((n * s[1] + h) * s[2] + w) * s[3] + c);
}

size_t at_hwio(const Shape& s, int64_t kh, int64_t kw, int64_t c, int64_t k) {
  return static_cast<size_t>(((kh * s[1] + kw) * s[2] + c) * s[3] + k);
}

Shape conv_output_shape(const ConvParams& p, const Shape& x, const Shape& w) {
  return Shape{x[0], window_output_size(x[1], p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom),
               window_output_size(x[2], p.kernel_w, p.stride_w, p.pad_left, p.pad_right), w[3]};
}

}  // namespace

Values conv_forward(const ConvParams& p, const Shape& xs, const Values& x, const Shape& ws, const Values& w,
                    const Values& bias) {
  const Shape ys = conv_output_shape(p, xs, ws);
  Values y(static_cast<size_t>(ys.elements()));
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oh = 0; oh < ys[1]; ++oh)
      for (int64_t ow = 0; ow < ys[2]; ++ow)
        for (int64_t k = 0; k < ys[3]; ++k) {
          double sum = bias.empty() ? 0.0 : bias[static_cast<size_t>(k)];
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
              if (ih < 0 || ih >= xs[1] || iw < 0 || iw >= xs[2]) continue;
              for (int64_t c = 0; c < xs[3]; ++c)
                sum += static_cast<double>(x[at(xs, n, ih, iw, c)]) * w[at_hwio(ws, kh, kw, c, k)];
            }
          y[at(ys, n, oh, ow, k)] = static_cast<float>(sum);
        }
  return y;
}

Values conv_backward_data(const ConvParams& p, const Shape& xs, const Shape& ws, const Values& w, const Values& dy) {
  const Shape ys = conv_output_shape(p, xs, ws);
  std::vector<double> dx(static_cast<size_t>(xs.elements()), 0.0);
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oh = 0; oh < ys[1]; ++oh)
      for (int64_t ow = 0; ow < ys[2]; ++ow)
        for (int64_t k = 0; k < ys[3]; ++k) {
          const double g = dy[at(ys, n, oh, ow, k)];
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
              if (ih < 0 || ih >= xs[1] || iw < 0 || iw >= xs[2]) continue;
              for (int64_t c = 0; c < xs[3]; ++c) dx[at(xs, n, ih, iw, c)] += g * w[at_hwio(ws, kh, kw, c, k)];
            }
        }
  return Values(dx.begin(), dx.end());
}

void conv_backward_weights(const ConvParams& p, const Shape& xs, const Values& x, const Shape& ws, const Values& dy,
                           bool with_bias, Values& dw, Values& dbias) {
  const Shape ys = conv_output_shape(p, xs, ws);
  std::vector<double> gw(static_cast<size_t>(ws.elements()), 0.0), gb(static_cast<size_t>(ws[3]), 0.0);
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oh = 0; oh < ys[1]; ++oh)
      for (int64_t ow = 0; ow < ys[2]; ++ow)
        for (int64_t k = 0; k < ys[3]; ++k) {
          const double g = dy[at(ys, n, oh, ow, k)];
          gb[static_cast<size_t>(k)] += g;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
              if (ih < 0 || ih >= xs[1] || iw < 0 || iw >= xs[2]) continue;
              for (int64_t c = 0; c < xs[3]; ++c) gw[at_hwio(ws, kh, kw, c, k)] += g * x[at(xs, n, ih, iw, c)];
            }
        }
  dw.assign(gw.begin(), gw.end());
  if (with_bias)
    dbias.assign(gb.begin(), gb.end());
  else
    dbias.clear();
}

Shape pool_output_shape(const PoolParams& p, const Shape& xs) {
  return Shape{xs[0], window_output_size(xs[1], p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom),
               window_output_size(xs[2], p.kernel_w, p.stride_w, p.pad_left, p.pad_right), xs[3]};
}

namespace {

// Calls visit(ih, iw) for every in-bounds input position of one pooling window.
template <typename Visit>
void for_window(const PoolParams& p, const Shape& xs, int64_t oh, int64_t ow, Visit visit) {
  for (int64_t kh = 0; kh < p.kernel_h; ++kh)
    for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
      const int64_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
      if (ih >= 0 && ih < xs[1] && iw >= 0 && iw < xs[2]) visit(ih, iw);
    }
}

}  // namespace

Values pool_forward(const PoolParams& p, const Shape& xs, const Values& x) {
  const Shape ys = pool_output_shape(p, xs);
  Values y(static_cast<size_t>(ys.elements()));
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oh = 0; oh < ys[1]; ++oh)
      for (int64_t ow = 0; ow < ys[2]; ++ow)
        for (int64_t c = 0; c < ys[3]; ++c) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t count = 0;
          for_window(p, xs, oh, ow, [&](int64_t ih, int64_t iw) {
            const double v = x[at(xs, n, ih, iw, c)];
            best = std::max(best, v);
            sum += v;
            ++count;
          });
          y[at(ys, n, oh, ow, c)] =
              static_cast<float>(p.kind == PoolKind::max ? best : sum / static_cast<double>(count));
        }
  return y;
}

Values pool_backward(const PoolParams& p, const Shape& xs, const Values& x, const Values& dy) {
  const Shape ys = pool_output_shape(p, xs);
  std::vector<double> dx(static_cast<size_t>(xs.elements()), 0.0);
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oh = 0; oh < ys[1]; ++oh)
      for (int64_t ow = 0; ow < ys[2]; ++ow)
        for (int64_t c = 0; c < ys[3]; ++c) {
          const double g = dy[at(ys, n, oh, ow, c)];
          if (p.kind == PoolKind::max) {
            double best = -std::numeric_limits<double>::infinity();
            size_t arg = 0;
            for_window(p, xs, oh, ow, [&](int64_t ih, int64_t iw) {
              const size_t i = at(xs, n, ih, iw, c);
              if (x[i] > best) best = x[i], arg = i;
            });
            dx[arg] += g;
          } else {
            int64_t count = 0;
            for_window(p, xs, oh, ow, [&](int64_t, int64_t) { ++count; });
            for_window(p, xs, oh, ow,
                       [&](int64_t ih, int64_t iw) { dx[at(xs, n, ih, iw, c)] += g / static_cast<double>(count); });
          }
        }
  return Values(dx.begin(), dx.end());
}

Values activation_forward(const ActivationParams& p, const Values& x) {
  Values y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    switch (p.kind) {
      case ActivationKind::relu:
        y[i] = static_cast<float>(v > 0 ? v : 0.0);
        break;
      case ActivationKind::leaky_relu:
        y[i] = static_cast<float>(v > 0 ? v : p.alpha * v);
        break;
      case ActivationKind::elu:
        y[i] = static_cast<float>(v > 0 ? v : p.alpha * (std::exp(v) - 1));
        break;
    }
  }
  return y;
}

Values activation_backward(const ActivationParams& p, const Values& x, const Values& dy) {
  Values dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    double slope = 1;
    if (v <= 0) {
      switch (p.kind) {
        case ActivationKind::relu:
          slope = 0;
          break;
        case ActivationKind::leaky_relu:
          slope = p.alpha;
          break;
        case ActivationKind::elu:
          slope = p.alpha * std::exp(v);
          break;
      }
    }
    dx[i] = static_cast<float>(slope * dy[i]);
  }
  return dx;
}

namespace {

void channel_moments(int64_t channels, const Values& x, std::vector<double>& mean, std::vector<double>& variance) {
  const auto c = static_cast<size_t>(channels);
  const size_t rows = x.size() / c;
  mean.assign(c, 0.0);
  variance.assign(c, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < c; ++j) mean[j] += x[r * c + j];
  for (double& m : mean) m /= static_cast<double>(rows);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < c; ++j) variance[j] += (x[r * c + j] - mean[j]) * (x[r * c + j] - mean[j]);
  for (double& v : variance) v /= static_cast<double>(rows);
}

}  // namespace

BatchNormResult batchnorm_training(float epsilon, int64_t channels, const Values& x, const Values& gamma,
                                   const Values& beta) {
  std::vector<double> mean, variance;
  channel_moments(channels, x, mean, variance);
  BatchNormResult out;
  out.mean.assign(mean.begin(), mean.end());
  out.variance.assign(variance.begin(), variance.end());
  const auto c = static_cast<size_t>(channels);
  out.y.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % c;
    out.y[i] = static_cast<float>((x[i] - mean[j]) / std::sqrt(variance[j] + epsilon) * gamma[j] + beta[j]);
  }
  return out;
}

Values batchnorm_inference(float epsilon, int64_t channels, const Values& x, const Values& gamma, const Values& beta,
                           const Values& mean, const Values& variance) {
  const auto c = static_cast<size_t>(channels);
  Values y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % c;
    y[i] = static_cast<float>((static_cast<double>(x[i]) - mean[j]) /
                                  std::sqrt(static_cast<double>(variance[j]) + epsilon) * gamma[j] +
                              beta[j]);
  }
  return y;
}

void batchnorm_backward(float epsilon, int64_t channels, const Values& x, const Values& dy, const Values& gamma,
                        Values& dx, Values& dgamma, Values& dbeta) {
  std::vector<double> mean, variance;
  channel_moments(channels, x, mean, variance);
  const auto c = static_cast<size_t>(channels);
  const double rows = static_cast<double>(x.size() / c);
  std::vector<double> sum_dy(c, 0.0), sum_dy_xhat(c, 0.0), inv_std(c);
  for (size_t j = 0; j < c; ++j) inv_std[j] = 1.0 / std::sqrt(variance[j] + epsilon);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % c;
    sum_dy[j] += dy[i];
    sum_dy_xhat[j] += dy[i] * (x[i] - mean[j]) * inv_std[j];
  }
  dx.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % c;
    const double xhat = (x[i] - mean[j]) * inv_std[j];
    dx[i] = static_cast<float>(gamma[j] * inv_std[j] / rows * (rows * dy[i] - sum_dy[j] - xhat * sum_dy_xhat[j]));
  }
  dgamma.assign(sum_dy_xhat.begin(), sum_dy_xhat.end());
  dbeta.assign(sum_dy.begin(), sum_dy.end());
}

Values dense_forward(int64_t n, int64_t in, int64_t out, const Values& x, const Values& w, const Values& bias) {
  Values y(static_cast<size_t>(n * out));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double sum = bias.empty() ? 0.0 : bias[static_cast<size_t>(o)];
      for (int64_t i = 0; i < in; ++i)
        sum += static_cast<double>(x[static_cast<size_t>(r * in + i)]) * w[static_cast<size_t>(i * out + o)];
      y[static_cast<size_t>(r * out + o)] = static_cast<float>(sum);
    }
  return y;
}

Values dense_backward_data(int64_t n, int64_t in, int64_t out, const Values& dy, const Values& w) {
  Values dx(static_cast<size_t>(n * in));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < in; ++i) {
      double sum = 0;
      for (int64_t o = 0; o < out; ++o)
        sum += static_cast<double>(dy[static_cast<size_t>(r * out + o)]) * w[static_cast<size_t>(i * out + o)];
      dx[static_cast<size_t>(r * in + i)] = static_cast<float>(sum);
    }
  return dx;
}

void dense_backward_weights(int64_t n, int64_t in, int64_t out, const Values& x, const Values& dy, bool with_bias,
                            Values& dw, Values& dbias) {
  dw.assign(static_cast<size_t>(in * out), 0.0f);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t r = 0; r < n; ++r)
        sum += static_cast<double>(x[static_cast<size_t>(r * in + i)]) * dy[static_cast<size_t>(r * out + o)];
      dw[static_cast<size_t>(i * out + o)] = static_cast<float>(sum);
    }
  dbias.clear();
  if (!with_bias) return;
  dbias.assign(static_cast<size_t>(out), 0.0f);
  for (int64_t o = 0; o < out; ++o) {
    double sum = 0;
    for (int64_t r = 0; r < n; ++r) sum += dy[static_cast<size_t>(r * out + o)];
    dbias[static_cast<size_t>(o)] = static_cast<float>(sum);
  }
}

SoftmaxResult softmax_cross_entropy(int64_t n, int64_t k, const Values& logits, const std::vector<int32_t>& labels,
                                    double smoothing) {
  SoftmaxResult out;
  out.probabilities.resize(static_cast<size_t>(n * k));
  out.losses.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    const float* z = logits.data() + r * k;
    double denominator = 0;
    for (int64_t j = 0; j < k; ++j) denominator += std::exp(static_cast<double>(z[j]));
    double loss = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double p = std::exp(static_cast<double>(z[j])) / denominator;
      out.probabilities[static_cast<size_t>(r * k + j)] = p;
      const double target =
          (j == labels[static_cast<size_t>(r)] ? 1.0 - smoothing : 0.0) + smoothing / static_cast<double>(k);
      loss -= target * std::log(p);
    }
    out.losses[static_cast<size_t>(r)] = loss;
  }
  return out;
}

Values add(const Values& a, const Values& b) {
  Values out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

}  // namespace stride::testing::naive
