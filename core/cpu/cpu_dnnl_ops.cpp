// CPU backend ops on oneDNN primitives: convolution, pooling, eltwise, batch
// normalisation, inner product. Each op checks shapes, finds or builds its
// cached primitive (keyed by op, shapes and parameters) and runs it on our
// buffers with no reorder: activations nhwc, kernels hwio / io, as stored.
#include <memory>

#include "cpu_backend.h"

namespace stride::cpu {
namespace {

// Input channels up to which conv weight gradients take the plain loop.
constexpr int64_t kFewInputChannels = 4;


using prop = dnnl::prop_kind;
using alg = dnnl::algorithm;
using dims = dnnl::memory::dims;

enum OpCode : int64_t {
  kConvForward = 1,
  kConvBackwardData,
  kConvBackwardWeights,
  kPoolForwardTraining,
  kPoolForwardInference,
  kPoolBackward,
  kEltwiseForward,
  kEltwiseBackward,
  kBatchNormTraining,
  kBatchNormInference,
  kBatchNormBackward,
  kDenseForward,
  kDenseBackwardData,
  kDenseBackwardWeights,
};

template <typename Params>
OpKey& add_window(OpKey& key, const Params& p) {
  return key.add(p.kernel_h).add(p.kernel_w).add(p.stride_h).add(p.stride_w).add(p.pad_top).add(p.pad_left)
      .add(p.pad_bottom).add(p.pad_right);
}

template <typename Params>
void check_window(const char* op, const Params& p, const Shape& x, const Shape& y, int64_t out_channels) {
  if (x.rank() != 4 || y.rank() != 4 || x[0] != y[0] || y[3] != out_channels ||
      y[1] != window_output_size(x[1], p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom) ||
      y[2] != window_output_size(x[2], p.kernel_w, p.stride_w, p.pad_left, p.pad_right))
    fail<ShapeError>("{}: input {} and output {} do not fit kernel {}x{} stride {}x{}", op, x.str(), y.str(),
                     p.kernel_h, p.kernel_w, p.stride_h, p.stride_w);
}

void check_conv(const char* op, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y) {
  if (w.rank() != 4 || w[0] != p.kernel_h || w[1] != p.kernel_w || x.rank() != 4 || w[2] != x[3])
    fail<ShapeError>("{}: kernel {} does not fit input {}", op, w.str(), x.str());
  check_window(op, p, x, y, w[3]);
}

void check_dense(const char* op, const Shape& x, const Shape& w, const Shape& y) {
  if (x.rank() != 2 || w.rank() != 2 || y.rank() != 2 || x[1] != w[0] || y[1] != w[1] || x[0] != y[0])
    fail<ShapeError>("{}: input {}, kernel {} and output {} do not fit", op, x.str(), w.str(), y.str());
}

void check_channels(const char* op, const Shape& x, std::initializer_list<const Tensor*> per_channel) {
  for (const Tensor* t : per_channel)
    if (t->elements() != x[x.rank() - 1])
      fail<ShapeError>("{}: per-channel tensor {} does not fit input {}", op, t->shape().str(), x.str());
}

template <typename Params>
dims strides_of(const Params& p) { return {p.stride_h, p.stride_w}; }
template <typename Params>
dims pad_l_of(const Params& p) { return {p.pad_top, p.pad_left}; }
template <typename Params>
dims pad_r_of(const Params& p) { return {p.pad_bottom, p.pad_right}; }

dnnl::convolution_forward::primitive_desc conv_forward_pd(dnnl::engine& engine, const ConvParams& p,
                                                          const Shape& x, const Shape& w, const Shape& y,
                                                          bool bias) {
  const auto xd = nhwc_desc(x), wd = hwio_desc(w), yd = nhwc_desc(y);
  auto d = bias ? dnnl::convolution_forward::desc(prop::forward_training, alg::convolution_direct, xd, wd,
                                                  vector_desc(w[3]), yd, strides_of(p), pad_l_of(p), pad_r_of(p))
                : dnnl::convolution_forward::desc(prop::forward_training, alg::convolution_direct, xd, wd, yd,
                                                  strides_of(p), pad_l_of(p), pad_r_of(p));
  return {d, scratchpad_attr(), engine};
}

alg pool_algorithm(PoolKind kind) {
  return kind == PoolKind::max ? alg::pooling_max : alg::pooling_avg_exclude_padding;
}

dnnl::pooling_forward::primitive_desc pool_forward_pd(dnnl::engine& engine, const PoolParams& p, const Shape& x,
                                                      const Shape& y, bool training) {
  dnnl::pooling_forward::desc d(training ? prop::forward_training : prop::forward_inference, pool_algorithm(p.kind),
                                nhwc_desc(x), nhwc_desc(y), strides_of(p), {p.kernel_h, p.kernel_w}, pad_l_of(p),
                                pad_r_of(p));
  return {d, scratchpad_attr(), engine};
}

alg eltwise_algorithm(ActivationKind kind) {
  return kind == ActivationKind::elu ? alg::eltwise_elu : alg::eltwise_relu;  // leaky: relu with a slope
}

OpKey eltwise_key(int64_t op, const ActivationParams& p, int64_t elements) {
  OpKey key;
  return key.add(op).add(elements).add(int64_t(p.kind)).add(static_cast<int64_t>(p.alpha * 1e6f));
}

const auto kScaleShift = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

OpKey batchnorm_key(int64_t op, const BatchNormParams& p, const Shape& x) {
  OpKey key;
  return key.add(op).add(x).add(static_cast<int64_t>(p.epsilon * 1e9f));
}

dnnl::batch_normalization_forward::primitive_desc bn_training_pd(dnnl::engine& engine, const Shape& x,
                                                                 float epsilon) {
  dnnl::batch_normalization_forward::desc d(prop::forward_training, nhwc_desc(x), epsilon, kScaleShift);
  return {d, scratchpad_attr(), engine};
}

dnnl::inner_product_forward::primitive_desc dense_forward_pd(dnnl::engine& engine, const Shape& x, const Shape& w,
                                                             bool bias) {
  const auto xd = matrix_desc(x[0], x[1]), wd = io_desc(w), yd = matrix_desc(x[0], w[1]);
  auto d = bias ? dnnl::inner_product_forward::desc(prop::forward_training, xd, wd, vector_desc(w[1]), yd)
                : dnnl::inner_product_forward::desc(prop::forward_training, xd, wd, yd);
  return {d, scratchpad_attr(), engine};
}

}  // namespace

void CpuBackend::conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                              Tensor& y) {
  check_conv("conv_forward", p, x.shape(), w.shape(), y.shape());
  OpKey key;
  add_window(key.add(kConvForward).add(x.shape()).add(w.shape()).add(bias.defined()), p);
  auto& primitive = cache_.get(key, [&] {
    auto pd = conv_forward_pd(engine_, p, x.shape(), w.shape(), y.shape(), bias.defined());
    return cached<dnnl::convolution_forward>(engine_, pd,
                                             {{DNNL_ARG_SRC, pd.src_desc()},
                                              {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                              {DNNL_ARG_BIAS, optional_desc(bias.defined(), pd.bias_desc())},
                                              {DNNL_ARG_DST, pd.dst_desc()}});
  });
  run(primitive, {x.raw(), w.raw(), bias.raw(), y.raw()});
}

void CpuBackend::conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  check_conv("conv_backward_data", p, dx.shape(), w.shape(), dy.shape());
  OpKey key;
  add_window(key.add(kConvBackwardData).add(dx.shape()).add(w.shape()), p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = conv_forward_pd(engine_, p, dx.shape(), w.shape(), dy.shape(), false);
    dnnl::convolution_backward_data::desc d(alg::convolution_direct, nhwc_desc(dx.shape()), hwio_desc(w.shape()),
                                            nhwc_desc(dy.shape()), strides_of(p), pad_l_of(p), pad_r_of(p));
    dnnl::convolution_backward_data::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::convolution_backward_data>(engine_, pd,
                                                   {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                                    {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                    {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()}});
  });
  run(primitive, {dy.raw(), w.raw(), dx.raw()});
}

void CpuBackend::conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                       Tensor& dbias) {
  check_conv("conv_backward_weights", p, x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (bias) check_channels("conv_backward_weights", dy.shape(), {&dbias});
  if (x.dim(3) <= kFewInputChannels) {
    conv_backward_weights_few_channels(p, x, dy, dw, dbias);
    return;
  }
  OpKey key;
  add_window(key.add(kConvBackwardWeights).add(x.shape()).add(dw.shape()).add(bias), p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = conv_forward_pd(engine_, p, x.shape(), dw.shape(), dy.shape(), bias);
    const auto xd = nhwc_desc(x.shape()), wd = hwio_desc(dw.shape()), yd = nhwc_desc(dy.shape());
    auto d = bias ? dnnl::convolution_backward_weights::desc(alg::convolution_direct, xd, wd, vector_desc(dw.dim(3)),
                                                             yd, strides_of(p), pad_l_of(p), pad_r_of(p))
                  : dnnl::convolution_backward_weights::desc(alg::convolution_direct, xd, wd, yd, strides_of(p),
                                                             pad_l_of(p), pad_r_of(p));
    dnnl::convolution_backward_weights::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached_backward_weights<dnnl::convolution_backward_weights>(engine_, pd, bias);
  });
  run(primitive, {x.raw(), dy.raw(), dw.raw(), dbias.raw()});
}

size_t CpuBackend::pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) {
  if (p.kind != PoolKind::max) return 0;
  return pool_forward_pd(engine_, p, x, y, true).workspace_desc().get_size();
}

void CpuBackend::pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  check_window("pool_forward", p, x.shape(), y.shape(), x.dim(3));
  // Max pooling records argmax positions only when a workspace is given (training).
  const bool record = p.kind == PoolKind::max && workspace.defined();
  OpKey key;
  add_window(key.add(record ? kPoolForwardTraining : kPoolForwardInference).add(x.shape()).add(int64_t(p.kind)), p);
  auto& primitive = cache_.get(key, [&] {
    auto pd = pool_forward_pd(engine_, p, x.shape(), y.shape(), record);
    return cached<dnnl::pooling_forward>(engine_, pd,
                                         {{DNNL_ARG_SRC, pd.src_desc()},
                                          {DNNL_ARG_DST, pd.dst_desc()},
                                          {DNNL_ARG_WORKSPACE, optional_desc(record, pd.workspace_desc())}});
  });
  if (record && workspace.bytes() < pool_workspace_bytes(p, x.shape(), y.shape()))
    fail<ShapeError>("pool_forward: workspace of {} bytes is too small", workspace.bytes());
  run(primitive, {x.raw(), y.raw(), record ? workspace.raw() : nullptr});
}

void CpuBackend::pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                               const Tensor& workspace, Tensor& dx) {
  (void)x, (void)y;  // oneDNN needs only the workspace
  check_window("pool_backward", p, dx.shape(), dy.shape(), dx.dim(3));
  const bool max = p.kind == PoolKind::max;
  if (max && !workspace.defined()) fail<ShapeError>("pool_backward: max pooling needs its forward workspace");
  OpKey key;
  add_window(key.add(kPoolBackward).add(dx.shape()).add(int64_t(p.kind)), p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = pool_forward_pd(engine_, p, dx.shape(), dy.shape(), true);
    dnnl::pooling_backward::desc d(pool_algorithm(p.kind), nhwc_desc(dx.shape()), nhwc_desc(dy.shape()),
                                   strides_of(p), {p.kernel_h, p.kernel_w}, pad_l_of(p), pad_r_of(p));
    dnnl::pooling_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::pooling_backward>(engine_, pd,
                                          {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                           {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()},
                                           {DNNL_ARG_WORKSPACE, optional_desc(max, pd.workspace_desc())}});
  });
  run(primitive, {dy.raw(), dx.raw(), max ? workspace.raw() : nullptr});
}

void CpuBackend::activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) {
  if (x.elements() != y.elements()) fail<ShapeError>("activation: {} into {}", x.shape().str(), y.shape().str());
  auto& primitive = cache_.get(eltwise_key(kEltwiseForward, p, x.elements()), [&] {
    const auto md = vector_desc(x.elements());
    dnnl::eltwise_forward::desc d(prop::forward_training, eltwise_algorithm(p.kind), md, p.alpha);
    dnnl::eltwise_forward::primitive_desc pd(d, scratchpad_attr(), engine_);
    return cached<dnnl::eltwise_forward>(engine_, pd, {{DNNL_ARG_SRC, md}, {DNNL_ARG_DST, md}});
  });
  run(primitive, {x.raw(), y.raw()});
}

void CpuBackend::activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                     Tensor& dx) {
  (void)y;  // oneDNN's backward reads the input
  if (x.elements() != dy.elements() || x.elements() != dx.elements())
    fail<ShapeError>("activation_backward: {} vs {}", x.shape().str(), dy.shape().str());
  auto& primitive = cache_.get(eltwise_key(kEltwiseBackward, p, x.elements()), [&] {
    const auto md = vector_desc(x.elements());
    dnnl::eltwise_forward::primitive_desc hint(
        dnnl::eltwise_forward::desc(prop::forward_training, eltwise_algorithm(p.kind), md, p.alpha), engine_);
    dnnl::eltwise_backward::desc d(eltwise_algorithm(p.kind), md, md, p.alpha);
    dnnl::eltwise_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::eltwise_backward>(engine_, pd,
                                          {{DNNL_ARG_SRC, md}, {DNNL_ARG_DIFF_DST, md}, {DNNL_ARG_DIFF_SRC, md}});
  });
  run(primitive, {x.raw(), dy.raw(), dx.raw()});
}

void CpuBackend::batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                            Tensor& running_mean, Tensor& running_var) {
  check_channels("batchnorm", x.shape(), {&gamma, &beta, &saved_mean, &saved_var, &running_mean, &running_var});
  if (x.shape() != y.shape()) fail<ShapeError>("batchnorm: {} into {}", x.shape().str(), y.shape().str());
  auto& primitive = cache_.get(batchnorm_key(kBatchNormTraining, p, x.shape()), [&] {
    auto pd = bn_training_pd(engine_, x.shape(), p.epsilon);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_forward>(engine_, pd,
                                                     {{DNNL_ARG_SRC, pd.src_desc()},
                                                      {DNNL_ARG_SCALE, channels},
                                                      {DNNL_ARG_SHIFT, channels},
                                                      {DNNL_ARG_DST, pd.dst_desc()},
                                                      {DNNL_ARG_MEAN, pd.mean_desc()},
                                                      {DNNL_ARG_VARIANCE, pd.variance_desc()}});
  });
  run(primitive, {x.raw(), gamma.raw(), beta.raw(), y.raw(), saved_mean.raw(), saved_var.raw()});

  // oneDNN leaves the running statistics to us.
  const int64_t count = x.elements() / x.dim(3);
  const float unbias = count > 1 ? static_cast<float>(count) / static_cast<float>(count - 1) : 1.0f;
  const float* mean = saved_mean.f32();
  const float* var = saved_var.f32();
  float* rm = running_mean.f32();
  float* rv = running_var.f32();
  for (int64_t c = 0; c < x.dim(3); ++c) {
    rm[c] = p.momentum * rm[c] + (1.0f - p.momentum) * mean[c];
    rv[c] = p.momentum * rv[c] + (1.0f - p.momentum) * var[c] * unbias;
  }
}

void CpuBackend::batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                             const Tensor& beta, const Tensor& running_mean,
                                             const Tensor& running_var, Tensor& y) {
  check_channels("batchnorm", x.shape(), {&gamma, &beta, &running_mean, &running_var});
  if (x.shape() != y.shape()) fail<ShapeError>("batchnorm: {} into {}", x.shape().str(), y.shape().str());
  auto& primitive = cache_.get(batchnorm_key(kBatchNormInference, p, x.shape()), [&] {
    dnnl::batch_normalization_forward::desc d(prop::forward_inference, nhwc_desc(x.shape()), p.epsilon,
                                              kScaleShift | dnnl::normalization_flags::use_global_stats);
    dnnl::batch_normalization_forward::primitive_desc pd(d, scratchpad_attr(), engine_);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_forward>(engine_, pd,
                                                     {{DNNL_ARG_SRC, pd.src_desc()},
                                                      {DNNL_ARG_MEAN, channels},
                                                      {DNNL_ARG_VARIANCE, channels},
                                                      {DNNL_ARG_SCALE, channels},
                                                      {DNNL_ARG_SHIFT, channels},
                                                      {DNNL_ARG_DST, pd.dst_desc()}});
  });
  run(primitive, {x.raw(), running_mean.raw(), running_var.raw(), gamma.raw(), beta.raw(), y.raw()});
}

void CpuBackend::batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                    const Tensor& saved_mean, const Tensor& saved_var, Tensor& dx, Tensor& dgamma,
                                    Tensor& dbeta) {
  check_channels("batchnorm_backward", x.shape(), {&gamma, &saved_mean, &saved_var, &dgamma, &dbeta});
  if (x.shape() != dy.shape() || x.shape() != dx.shape())
    fail<ShapeError>("batchnorm_backward: {} vs {}", x.shape().str(), dy.shape().str());
  auto& primitive = cache_.get(batchnorm_key(kBatchNormBackward, p, x.shape()), [&] {
    auto hint = bn_training_pd(engine_, x.shape(), p.epsilon);
    const auto md = nhwc_desc(x.shape());
    dnnl::batch_normalization_backward::desc d(prop::backward, md, md, p.epsilon, kScaleShift);
    dnnl::batch_normalization_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_backward>(engine_, pd,
                                                      {{DNNL_ARG_SRC, md},
                                                       {DNNL_ARG_MEAN, channels},
                                                       {DNNL_ARG_VARIANCE, channels},
                                                       {DNNL_ARG_DIFF_DST, md},
                                                       {DNNL_ARG_SCALE, channels},
                                                       {DNNL_ARG_SHIFT, channels},
                                                       {DNNL_ARG_DIFF_SRC, md},
                                                       {DNNL_ARG_DIFF_SCALE, channels},
                                                       {DNNL_ARG_DIFF_SHIFT, channels}});
  });
  // oneDNN 2.x counts the shift as an input of backward with use_shift (and
  // rejects the call without it) but never reads it: gamma's buffer stands in.
  run(primitive, {x.raw(), saved_mean.raw(), saved_var.raw(), dy.raw(), gamma.raw(), gamma.raw(), dx.raw(),
                  dgamma.raw(), dbeta.raw()});
}

void CpuBackend::dense_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  check_dense("dense_forward", x.shape(), w.shape(), y.shape());
  OpKey key;
  key.add(kDenseForward).add(x.shape()).add(w.shape()).add(bias.defined());
  auto& primitive = cache_.get(key, [&] {
    auto pd = dense_forward_pd(engine_, x.shape(), w.shape(), bias.defined());
    return cached<dnnl::inner_product_forward>(engine_, pd,
                                               {{DNNL_ARG_SRC, pd.src_desc()},
                                                {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                {DNNL_ARG_BIAS, optional_desc(bias.defined(), pd.bias_desc())},
                                                {DNNL_ARG_DST, pd.dst_desc()}});
  });
  run(primitive, {x.raw(), w.raw(), bias.raw(), y.raw()});
}

void CpuBackend::dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  check_dense("dense_backward_data", dx.shape(), w.shape(), dy.shape());
  OpKey key;
  key.add(kDenseBackwardData).add(dx.shape()).add(w.shape());
  auto& primitive = cache_.get(key, [&] {
    auto hint = dense_forward_pd(engine_, dx.shape(), w.shape(), false);
    dnnl::inner_product_backward_data::desc d(matrix_desc(dx.dim(0), dx.dim(1)), io_desc(w.shape()),
                                              matrix_desc(dy.dim(0), dy.dim(1)));
    dnnl::inner_product_backward_data::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::inner_product_backward_data>(engine_, pd,
                                                     {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                                      {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                      {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()}});
  });
  run(primitive, {dy.raw(), w.raw(), dx.raw()});
}

void CpuBackend::dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias) {
  check_dense("dense_backward_weights", x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  OpKey key;
  key.add(kDenseBackwardWeights).add(x.shape()).add(dw.shape()).add(bias);
  auto& primitive = cache_.get(key, [&] {
    auto hint = dense_forward_pd(engine_, x.shape(), dw.shape(), bias);
    const auto xd = matrix_desc(x.dim(0), x.dim(1)), wd = io_desc(dw.shape()), yd = matrix_desc(dy.dim(0), dy.dim(1));
    auto d = bias ? dnnl::inner_product_backward_weights::desc(xd, wd, vector_desc(dw.dim(1)), yd)
                  : dnnl::inner_product_backward_weights::desc(xd, wd, yd);
    dnnl::inner_product_backward_weights::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached_backward_weights<dnnl::inner_product_backward_weights>(engine_, pd, bias);
  });
  run(primitive, {x.raw(), dy.raw(), dw.raw(), dbias.raw()});
}

}  // namespace stride::cpu
