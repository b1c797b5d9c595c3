// Batch normalisation. Training mode normalises with the batch statistics and
// updates the moving ones; inference mode uses the moving statistics. A frozen
// layer always runs in inference mode (as Keras does when fine-tuning). Backward
// follows the statistics the forward used: with the running ones it passes
// dy * gamma / sqrt(var + eps) through.
//
// A ReLU after it is fused (fuse_activation): every forward path applies it in
// the backend call; training-mode backward leaves the mask to the backend (the
// reserve keeps it from forward), the other paths mask dy here first.
//
// Synchronised (Context::batch_norm_sync set): the batch is the global batch of
// every replica. Forward sums per-channel partial sums across replicas twice
// (for the mean, then the variance around it) before normalising; backward
// sums sum(dy) and sum(dy * xhat) before the input gradient. gamma's and
// beta's gradients stay this replica's share, which the gradient all-reduce
// sums like any other parameter's.
#include <fmt/format.h>

#include <algorithm>

#include "init.h"
#include "stride/core/layers.h"

namespace stride {

BatchNorm::BatchNorm(float momentum, float epsilon) {
  if (!(momentum >= 0.0f && momentum < 1.0f))
    fail<ConfigError>("batchnorm: momentum must be in [0, 1), got {}", momentum);
  if (!(epsilon > 0.0f)) fail<ConfigError>("batchnorm: epsilon must be positive, got {}", epsilon);
  params_.momentum = momentum;
  params_.epsilon = epsilon;
}

std::string BatchNorm::spec() const {
  if (params_.momentum == 0.99f && params_.epsilon == 1e-3f) return "bn";
  return fmt::format("bn(momentum={:g},epsilon={:g})", params_.momentum, params_.epsilon);
}

Shape BatchNorm::build(const Shape& input) {
  if (input.rank() != 3 && input.rank() != 1)
    fail<ShapeError>("bn expects an (H, W, C) or (F) input, got {}", input.str());
  input_shape_ = output_shape_ = input;
  gamma_.shape = beta_.shape = moving_mean_.shape = moving_variance_.shape = Shape{input[input.rank() - 1]};
  return output_shape_;
}

bool BatchNorm::fuse_activation(const ActivationParams& activation) {
  if (activation.kind != ActivationKind::relu || params_.fuse_relu) return false;
  params_.fuse_relu = true;
  relu_mask_.set(activation);
  return true;
}

void BatchNorm::init_parameters(Backend& backend, Rng& rng) {
  (void)rng;
  const Shape channels{input_shape_[input_shape_.rank() - 1]};
  allocate_parameter(backend, gamma_);
  allocate_parameter(backend, beta_);
  init_constant(backend, gamma_.value, 1.0f);
  init_constant(backend, beta_.value, 0.0f);
  moving_mean_.value = Tensor(backend, channels);
  moving_variance_.value = Tensor(backend, channels);
  init_constant(backend, moving_mean_.value, 0.0f);
  init_constant(backend, moving_variance_.value, 1.0f);
}

void BatchNorm::reserve(Backend& backend, int64_t max_batch) {
  const Shape channels{input_shape_[input_shape_.rank() - 1]};
  saved_mean_ = Tensor(backend, channels);
  saved_var_ = Tensor(backend, channels);
  forward_sums_ = Tensor(backend, Shape{2 * channels[0] + 1});
  backward_sums_ = Tensor(backend, Shape{2 * channels[0] + 1});
  const Shape nhwc =
      input_shape_.rank() == 3 ? input_shape_.with_batch(max_batch) : Shape{max_batch, 1, 1, input_shape_[0]};
  const size_t reserve = backend.batchnorm_reserve_bytes(params_, nhwc);
  reserve_ = reserve > 0 ? Tensor(backend, Shape{static_cast<int64_t>(reserve)}, DType::u8) : Tensor();
  relu_mask_.reserve(backend, output_shape_, max_batch);
  max_batch_ = max_batch;
}

Tensor BatchNorm::as_nhwc(const Tensor& t) const {
  if (input_shape_.rank() == 3) return t;
  return t.view(Shape{t.dim(0), 1, 1, input_shape_[0]});
}

void BatchNorm::forward(Context& ctx, const Tensor& x, Tensor& y) {
  Tensor x4 = as_nhwc(x), y4 = as_nhwc(y);
  batch_statistics_ = ctx.mode == Mode::training && trainable_;
  synchronised_ = batch_statistics_ && ctx.batch_norm_sync != nullptr;
  if (synchronised_) {
    // Two passes over x: the global mean, then the global variance around it.
    Backend& b = ctx.backend;
    b.batchnorm_partial_sums(x4, moving_mean_.value, forward_sums_);
    ctx.batch_norm_sync->sum(forward_sums_);
    b.batchnorm_mean_from_sums(forward_sums_, moving_mean_.value, saved_mean_);
    b.batchnorm_partial_sums(x4, saved_mean_, forward_sums_);
    ctx.batch_norm_sync->sum(forward_sums_);
    b.batchnorm_statistics_from_sums(params_, forward_sums_, saved_mean_, saved_mean_, saved_var_, moving_mean_.value,
                                     moving_variance_.value);
    b.batchnorm_forward_inference(params_, x4, gamma_.value, beta_.value, saved_mean_, saved_var_, y4);
  } else if (batch_statistics_) {
    ctx.backend.batchnorm_forward_training(params_, x4, gamma_.value, beta_.value, y4, saved_mean_, saved_var_,
                                           moving_mean_.value, moving_variance_.value, reserve_);
  } else {
    ctx.backend.batchnorm_forward_inference(params_, x4, gamma_.value, beta_.value, moving_mean_.value,
                                            moving_variance_.value, y4);
  }
}

void BatchNorm::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy_fused, Tensor& dx) {
  // Backward follows the statistics the last forward used.
  if (!batch_statistics_ || synchronised_) {
    const Tensor dy = relu_mask_.unfuse_gradient(ctx, y, dy_fused);
    if (synchronised_) {
      backward_synchronised(ctx, x, dy, dx);
      return;
    }
    if (dx.defined()) ctx.backend.batchnorm_backward_inference(params_, dy, gamma_.value, moving_variance_.value, dx);
    if (trainable_)
      ctx.backend.batchnorm_backward_inference_parameters(params_, x, dy, moving_mean_.value, moving_variance_.value,
                                                          gamma_.grad, beta_.grad);
    return;
  }
  const Tensor& dy = dy_fused;
  // oneDNN and cuDNN always produce the input gradient; give it a scratch when
  // unwanted (made on the first such step, reused after).
  if (!dx.defined() && !input_grad_scratch_.defined())
    input_grad_scratch_ = Tensor(ctx.backend, input_shape_.with_batch(std::max(max_batch_, x.dim(0))));
  const Tensor input_grad = dx.defined() ? dx : input_grad_scratch_.batch_prefix(x.dim(0));
  Tensor x4 = as_nhwc(x), dy4 = as_nhwc(dy), dx4 = as_nhwc(input_grad);
  ctx.backend.batchnorm_backward(params_, x4, dy4, gamma_.value, saved_mean_, saved_var_, reserve_, dx4, gamma_.grad,
                                 beta_.grad);
}

void BatchNorm::backward_synchronised(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) {
  Backend& b = ctx.backend;
  Tensor x4 = as_nhwc(x), dy4 = as_nhwc(dy);
  b.batchnorm_backward_partial_sums(params_, x4, dy4, saved_mean_, saved_var_, backward_sums_);
  // This replica's dbeta and dgamma are the first two thirds of its sums.
  const int64_t channels = gamma_.value.elements();
  float* sums = backward_sums_.f32();
  const Tensor sum_dy = Tensor::wrap(sums, Shape{channels}, DType::f32, backward_sums_.device());
  const Tensor sum_dy_xhat = Tensor::wrap(sums + channels, Shape{channels}, DType::f32, backward_sums_.device());
  b.copy(sum_dy, beta_.grad);
  b.copy(sum_dy_xhat, gamma_.grad);
  if (!dx.defined()) return;  // every replica skips the sum alike: same model, same layer
  ctx.batch_norm_sync->sum(backward_sums_);
  Tensor dx4 = as_nhwc(dx);
  b.batchnorm_backward_from_sums(params_, x4, dy4, gamma_.value, saved_mean_, saved_var_, backward_sums_, dx4);
}

std::vector<Parameter*> BatchNorm::parameters() { return {&gamma_, &beta_}; }

std::vector<Buffer*> BatchNorm::buffers() { return {&moving_mean_, &moving_variance_}; }

}  // namespace stride
