// Naive reference kernels: the ground truth the backends are tested against.
// Plain loops straight from the definitions, accumulating in double, over the
// same layouts as the backend (NHWC activations, HWIO conv kernels, [in, out]
// dense kernels). Windows take explicit paddings, as the backend ops do.
#pragma once

#include <cstdint>
#include <vector>

#include "stride/core/backend.h"
#include "stride/core/tensor.h"

namespace stride::testing::naive {

using Values = std::vector<float>;

// Convolution: x [N,H,W,C], w [KH,KW,C,K], bias [K] (empty: none), y [N,OH,OW,K].
Values conv_forward(const ConvParams& p, const Shape& x_shape, const Values& x, const Shape& w_shape, const Values& w,
                    const Values& bias);
Values conv_backward_data(const ConvParams& p, const Shape& x_shape, const Shape& w_shape, const Values& w,
                          const Values& dy);
// dbias is left empty when with_bias is false.
void conv_backward_weights(const ConvParams& p, const Shape& x_shape, const Values& x, const Shape& w_shape,
                           const Values& dy, bool with_bias, Values& dw, Values& dbias);

// Pooling over windows; average divides by the in-bounds count (padding excluded);
// max backward routes the gradient to the first largest input of each window.
Shape pool_output_shape(const PoolParams& p, const Shape& x_shape);
Values pool_forward(const PoolParams& p, const Shape& x_shape, const Values& x);
Values pool_backward(const PoolParams& p, const Shape& x_shape, const Values& x, const Values& dy);

Values activation_forward(const ActivationParams& p, const Values& x);
Values activation_backward(const ActivationParams& p, const Values& x, const Values& dy);

// Batch norm over every axis but the last (C channels).
struct BatchNormResult {
  Values y;
  Values mean;      // batch mean
  Values variance;  // biased batch variance
};
BatchNormResult batchnorm_training(float epsilon, int64_t channels, const Values& x, const Values& gamma,
                                   const Values& beta);
Values batchnorm_inference(float epsilon, int64_t channels, const Values& x, const Values& gamma, const Values& beta,
                           const Values& mean, const Values& variance);
// Gradients of training-mode batch norm (batch statistics depend on x).
void batchnorm_backward(float epsilon, int64_t channels, const Values& x, const Values& dy, const Values& gamma,
                        Values& dx, Values& dgamma, Values& dbeta);

// Dense: x [N,I], w [I,O], bias [O] (empty: none).
Values dense_forward(int64_t n, int64_t in, int64_t out, const Values& x, const Values& w, const Values& bias);
Values dense_backward_data(int64_t n, int64_t in, int64_t out, const Values& dy, const Values& w);
void dense_backward_weights(int64_t n, int64_t in, int64_t out, const Values& x, const Values& dy, bool with_bias,
                            Values& dw, Values& dbias);

// Softmax cross-entropy against (1 - s) * onehot + s / K, per row.
struct SoftmaxResult {
  std::vector<double> probabilities;
  std::vector<double> losses;
};
SoftmaxResult softmax_cross_entropy(int64_t n, int64_t k, const Values& logits, const std::vector<int32_t>& labels,
                                    double smoothing);

// Elementwise helpers.
Values add(const Values& a, const Values& b);

}  // namespace stride::testing::naive
