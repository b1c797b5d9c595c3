// Batch normalisation. Training mode runs cuDNN: the *Ex calls in
// SPATIAL_PERSISTENT mode (cuDNN's fast NHWC kernels, as PyTorch uses for
// channels-last training), or the plain calls in SPATIAL mode where cuDNN does
// not support persistent mode for a shape. cuDNN moves the running statistics
// with exponentialAverageFactor = 1 - momentum (the unbiased batch variance
// going in) and saves the batch mean and inverse standard deviation, which is
// what saved_mean / saved_var hold on this backend.
//
// The fused ReLU is applied after cuDNN's forward, keeping its mask as bits
// after cuDNN's part of the reserve, and applied to dy before cuDNN's backward:
// cuDNN's own BN_ACTIVATION backward needs the forward's output and beta,
// which the seam's batchnorm_backward does not carry.
//
// Everything else (inference, frozen layers, synchronised batch norm) is
// Stride's kernels.
#include "cuda_backend.h"
#include "cuda_plans.h"
#include "cuda_shapes.h"

namespace stride::cuda {

namespace {

size_t align(size_t bytes) { return (bytes + 255) / 256 * 256; }

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

BatchNormPlan& CudaBackend::batchnorm_plan(const Shape& x) {
  OpKey key;
  key.add(x);
  if (auto found = batchnorm_plans_.find(key); found != batchnorm_plans_.end()) return *found->second;
  if (x.rank() != 4) fail<ShapeError>("batchnorm: expected an NHWC tensor, got {}", x.str());
  auto plan = std::make_unique<BatchNormPlan>();
  plan->x = make_tensor_desc();
  STRIDE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                static_cast<int>(x[0]), static_cast<int>(x[3]), static_cast<int>(x[1]),
                                                static_cast<int>(x[2])));
  plan->channels = make_tensor_desc();
  STRIDE_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(plan->channels.get(), plan->x.get(), CUDNN_BATCHNORM_SPATIAL));
  const cudnnBatchNormMode_t mode = CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
  cudnnHandle_t h = cudnn_.get();
  const cudnnStatus_t sizes[] = {cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
                                     h, mode, CUDNN_BATCHNORM_OPS_BN, plan->x.get(), nullptr, plan->x.get(),
                                     plan->channels.get(), nullptr, &plan->forward_workspace),
                                 cudnnGetBatchNormalizationBackwardExWorkspaceSize(
                                     h, mode, CUDNN_BATCHNORM_OPS_BN, plan->x.get(), plan->x.get(), plan->x.get(),
                                     nullptr, plan->x.get(), plan->channels.get(), nullptr, &plan->backward_workspace),
                                 cudnnGetBatchNormalizationTrainingExReserveSpaceSize(
                                     h, mode, CUDNN_BATCHNORM_OPS_BN, nullptr, plan->x.get(), &plan->reserve)};
  // Any refusal of persistent mode (not supported for this shape or type): the plain SPATIAL calls, which
  // need no workspace or reserve.
  for (cudnnStatus_t status : sizes)
    if (status != CUDNN_STATUS_SUCCESS) plan->persistent = false;
  if (!plan->persistent) plan->forward_workspace = plan->backward_workspace = plan->reserve = 0;
  plan->mask_offset = align(plan->reserve);
  ++plans_built_;
  return *batchnorm_plans_.emplace(key, std::move(plan)).first->second;
}

size_t CudaBackend::batchnorm_reserve_bytes(const BatchNormParams& p, const Shape& x) {
  BatchNormPlan& plan = batchnorm_plan(x);
  const size_t mask = p.fuse_relu ? static_cast<size_t>(relu_mask_words(x.elements())) * sizeof(uint32_t) : 0;
  return plan.mask_offset + mask;
}

void CudaBackend::batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                             const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                             Tensor& running_mean, Tensor& running_var, Tensor& reserve) {
  check_channels("batchnorm", x.shape(), {&gamma, &beta, &saved_mean, &saved_var, &running_mean, &running_var});
  if (x.shape() != y.shape()) fail<ShapeError>("batchnorm: {} into {}", x.shape().str(), y.shape().str());
  BatchNormPlan& plan = batchnorm_plan(x.shape());
  if (reserve.bytes() < batchnorm_reserve_bytes(p, x.shape()))
    fail<ShapeError>("batchnorm: reserve of {} bytes is too small ({} needed)", reserve.bytes(),
                     batchnorm_reserve_bytes(p, x.shape()));
  const float one = 1.0f, zero = 0.0f;
  const double factor = 1.0 - static_cast<double>(p.momentum);
  cudnnStatus_t status = CUDNN_STATUS_NOT_SUPPORTED;
  if (plan.persistent) {
    if (!ensure_workspace(plan.forward_workspace))
      fail<CudaError>("out of GPU memory for a {}-byte batch norm workspace", plan.forward_workspace);
    status = cudnnBatchNormalizationForwardTrainingEx(
        cudnn_.get(), CUDNN_BATCHNORM_SPATIAL_PERSISTENT, CUDNN_BATCHNORM_OPS_BN, &one, &zero, plan.x.get(), x.raw(),
        nullptr, nullptr, plan.x.get(), y.raw(), plan.channels.get(), gamma.raw(), beta.raw(), factor,
        running_mean.raw(), running_var.raw(), p.epsilon, saved_mean.raw(), saved_var.raw(), nullptr, workspace_.data,
        plan.forward_workspace, plan.reserve > 0 ? reserve.raw() : nullptr, plan.reserve);
    // Refused (cuDNN's persistent kernels cover fewer shapes): the plain calls from now on, forward and backward.
    if (status != CUDNN_STATUS_SUCCESS) plan.persistent = false;
  }
  if (!plan.persistent)
    status = cudnnBatchNormalizationForwardTraining(cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, plan.x.get(),
                                                    x.raw(), plan.x.get(), y.raw(), plan.channels.get(), gamma.raw(),
                                                    beta.raw(), factor, running_mean.raw(), running_var.raw(),
                                                    p.epsilon, saved_mean.raw(), saved_var.raw());
  check_cudnn(status, "cudnnBatchNormalizationForwardTraining", __FILE__, __LINE__);
  if (p.fuse_relu)
    launch_relu_mask_forward(y.f32(), reinterpret_cast<uint32_t*>(reserve.u8() + plan.mask_offset), y.elements(), s());
}

void CudaBackend::batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                     const Tensor& saved_mean, const Tensor& saved_var, const Tensor& reserve,
                                     Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  check_channels("batchnorm_backward", x.shape(), {&gamma, &saved_mean, &saved_var, &dgamma, &dbeta});
  if (x.shape() != dy.shape() || x.shape() != dx.shape())
    fail<ShapeError>("batchnorm_backward: {} vs {}", x.shape().str(), dy.shape().str());
  BatchNormPlan& plan = batchnorm_plan(x.shape());
  if (reserve.bytes() < batchnorm_reserve_bytes(p, x.shape()))
    fail<ShapeError>("batchnorm_backward: {} needs the reserve its forward wrote",
                     p.fuse_relu ? "the fused relu" : "cuDNN");
  const void* grad = dy.raw();
  if (p.fuse_relu) {
    void* masked = grow(masked_gradient_, dy.bytes());
    launch_relu_mask_backward(dy.f32(), reinterpret_cast<const uint32_t*>(reserve.u8() + plan.mask_offset),
                              static_cast<float*>(masked), dy.elements(), s());
    grad = masked;
  }
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t status = CUDNN_STATUS_NOT_SUPPORTED;
  if (plan.persistent) {
    if (!ensure_workspace(plan.backward_workspace))
      fail<CudaError>("out of GPU memory for a {}-byte batch norm workspace", plan.backward_workspace);
    status = cudnnBatchNormalizationBackwardEx(
        cudnn_.get(), CUDNN_BATCHNORM_SPATIAL_PERSISTENT, CUDNN_BATCHNORM_OPS_BN, &one, &zero, &one, &zero,
        plan.x.get(), x.raw(), nullptr, nullptr, plan.x.get(), grad, nullptr, nullptr, plan.x.get(), dx.raw(),
        plan.channels.get(), gamma.raw(), nullptr, dgamma.raw(), dbeta.raw(), p.epsilon, saved_mean.raw(),
        saved_var.raw(), nullptr, workspace_.data, plan.backward_workspace,
        plan.reserve > 0 ? const_cast<void*>(reserve.raw()) : nullptr, plan.reserve);
  }
  // The plain call needs only the saved mean and inverse std, whichever mode wrote them.
  if (!plan.persistent || status != CUDNN_STATUS_SUCCESS)
    status = cudnnBatchNormalizationBackward(cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero,
                                             plan.x.get(), x.raw(), plan.x.get(), grad, plan.x.get(), dx.raw(),
                                             plan.channels.get(), gamma.raw(), dgamma.raw(), dbeta.raw(), p.epsilon,
                                             saved_mean.raw(), saved_var.raw());
  check_cudnn(status, "cudnnBatchNormalizationBackward", __FILE__, __LINE__);
}

void CudaBackend::batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                              Tensor& y) {
  check_channels("batchnorm", x.shape(), {&gamma, &beta, &running_mean, &running_var});
  if (x.shape() != y.shape()) fail<ShapeError>("batchnorm: {} into {}", x.shape().str(), y.shape().str());
  const int64_t channels = gamma.elements();
  launch_bn_inference(x.f32(), gamma.f32(), beta.f32(), running_mean.f32(), running_var.f32(), p.epsilon, p.fuse_relu,
                      y.f32(), rows_of(x, channels, "batchnorm"), channels, s());
}

void CudaBackend::batchnorm_backward_inference(const BatchNormParams& p, const Tensor& dy, const Tensor& gamma,
                                               const Tensor& running_var, Tensor& dx) {
  expect_same_elements(dy, dx, "batchnorm_backward_inference");
  const int64_t channels = gamma.elements();
  if (running_var.elements() != channels || dy.elements() % channels != 0)
    fail<ShapeError>("batchnorm_backward_inference: {} with {} channels", dy.shape().str(), channels);
  launch_bn_backward_inference(dy.f32(), gamma.f32(), running_var.f32(), p.epsilon, dx.f32(), dy.elements() / channels,
                               channels, s());
}

void CudaBackend::batchnorm_backward_inference_parameters(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                          const Tensor& running_mean, const Tensor& running_var,
                                                          Tensor& dgamma, Tensor& dbeta) {
  expect_same_elements(x, dy, "batchnorm_backward_inference_parameters");
  const int64_t channels = running_mean.elements();
  if (running_var.elements() != channels || dgamma.elements() != channels || dbeta.elements() != channels ||
      channels == 0 || x.elements() % channels != 0)
    fail<ShapeError>("batchnorm_backward_inference_parameters: {} with {} channels", x.shape().str(), channels);
  ChannelSumArgs args;
  args.kind = ChannelSum::bn_inference_parameters;
  args.a = x.f32();
  args.b = dy.f32();
  args.center = running_mean.f32();
  args.var = running_var.f32();
  args.epsilon = p.epsilon;
  args.out0 = dgamma.f32();
  args.out1 = dbeta.f32();
  args.rows = x.elements() / channels;
  args.channels = channels;
  channel_sums(args);
}

void CudaBackend::batchnorm_partial_sums(const Tensor& x, const Tensor& shift, Tensor& sums) {
  const int64_t channels = shift.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_partial_sums");
  expect_sums(sums, channels, "batchnorm_partial_sums");
  ChannelSumArgs args;
  args.kind = ChannelSum::bn_forward;
  args.a = x.f32();
  args.center = shift.f32();
  args.out0 = sums.f32();
  args.rows = rows;
  args.channels = channels;
  channel_sums(args);
}

void CudaBackend::batchnorm_mean_from_sums(const Tensor& sums, const Tensor& shift, Tensor& mean) {
  const int64_t channels = shift.elements();
  expect_sums(sums, channels, "batchnorm_mean_from_sums");
  expect_channels({&mean}, channels, "batchnorm_mean_from_sums");
  launch_bn_mean_from_sums(sums.f32(), shift.f32(), mean.f32(), channels, s());
}

void CudaBackend::batchnorm_statistics_from_sums(const BatchNormParams& p, const Tensor& sums, const Tensor& shift,
                                                 Tensor& mean, Tensor& var, Tensor& running_mean, Tensor& running_var) {
  const int64_t channels = shift.elements();
  expect_sums(sums, channels, "batchnorm_statistics_from_sums");
  expect_channels({&mean, &var, &running_mean, &running_var}, channels, "batchnorm_statistics_from_sums");
  launch_bn_statistics_from_sums(sums.f32(), shift.f32(), mean.f32(), var.f32(), running_mean.f32(), running_var.f32(),
                                 p.momentum, channels, s());
}

void CudaBackend::batchnorm_backward_partial_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                  const Tensor& mean, const Tensor& var, Tensor& sums) {
  const int64_t channels = mean.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_backward_partial_sums");
  if (dy.elements() != x.elements())
    fail<ShapeError>("batchnorm_backward_partial_sums: {} and {} differ in size", x.shape().str(), dy.shape().str());
  expect_channels({&var}, channels, "batchnorm_backward_partial_sums");
  expect_sums(sums, channels, "batchnorm_backward_partial_sums");
  ChannelSumArgs args;
  args.kind = ChannelSum::bn_backward;
  args.a = x.f32();
  args.b = dy.f32();
  args.center = mean.f32();
  args.var = var.f32();
  args.epsilon = p.epsilon;
  args.out0 = sums.f32();
  args.rows = rows;
  args.channels = channels;
  channel_sums(args);
}

void CudaBackend::batchnorm_backward_from_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                               const Tensor& gamma, const Tensor& mean, const Tensor& var,
                                               const Tensor& sums, Tensor& dx) {
  const int64_t channels = mean.elements();
  const int64_t rows = rows_of(x, channels, "batchnorm_backward_from_sums");
  if (dy.elements() != x.elements() || dx.elements() != x.elements())
    fail<ShapeError>("batchnorm_backward_from_sums: {}, {} and {} differ in size", x.shape().str(), dy.shape().str(),
                     dx.shape().str());
  expect_channels({&gamma, &var}, channels, "batchnorm_backward_from_sums");
  expect_sums(sums, channels, "batchnorm_backward_from_sums");
  launch_bn_backward_from_sums(x.f32(), dy.f32(), gamma.f32(), mean.f32(), var.f32(), sums.f32(), p.epsilon, dx.f32(),
                               rows, channels, s());
}

}  // namespace stride::cuda
