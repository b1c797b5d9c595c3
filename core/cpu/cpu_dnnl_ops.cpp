// CPU backend ops on oneDNN primitives: convolution, pooling, eltwise, batch
// normalisation, inner product. Each op checks shapes, finds or builds its
// cached primitive (keyed by op, shapes and parameters) and runs it on our
// buffers: activations nhwc as stored; convolution kernels in the blocked
// layout the primitive picks (format_tag::any), reordered from HWIO through
// the weight cache; epilogues as post-ops (binary add for a residual, eltwise
// for the activation); batch norm's fused ReLU as fuse_norm_relu with its
// workspace as the reserve. Max pooling and the weight gradients of
// convolutions with few input channels run on the backend's own kernels
// (cpu_max_pool.cpp, cpu_conv_wgrad.cpp), where oneDNN 2.6 is slow.
#include <omp.h>

#include <memory>

#include "cpu_backend.h"
#include "cpu_conv_wgrad.h"
#include "cpu_max_pool.h"

namespace stride::cpu {
namespace {

using prop = dnnl::prop_kind;
using alg = dnnl::algorithm;
using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

enum class Op : int64_t {
  conv_forward = 1,
  conv_backward_data,
  conv_backward_weights,
  pool_forward_training,
  pool_forward_inference,
  pool_backward,
  eltwise_forward,
  eltwise_backward,
  eltwise_backward_from_output,
  batchnorm_training,
  batchnorm_inference,
  batchnorm_backward,
  dense_forward,
  dense_backward_data,
  dense_backward_weights,
  weight_gradient_reorder,
};

// Problems below these sizes are small: with passive OpenMP waiting they run
// on one thread, since waking the workers costs more than a second thread
// saves (PrimitiveCache; measured with stride bench ops).
constexpr double kSingleThreadFlops = 4e6;
constexpr int64_t kSingleThreadElements = int64_t{1} << 16;

bool small_conv(const ConvParams& p, const Shape& x, const Shape& y) {
  return 2.0 * static_cast<double>(y.elements()) * static_cast<double>(p.kernel_h * p.kernel_w * x[3]) <
         kSingleThreadFlops;
}
bool small_dense(const Shape& x, const Shape& w) {
  return 2.0 * static_cast<double>(x[0]) * static_cast<double>(w[0]) * static_cast<double>(w[1]) < kSingleThreadFlops;
}
bool small_elementwise(int64_t elements) { return elements < kSingleThreadElements; }

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

void check_epilogue(const char* op, const Epilogue& e, const Tensor& y) {
  if (e.bias != nullptr && e.bias->defined() && e.bias->elements() != y.dim(y.shape().rank() - 1))
    fail<ShapeError>("{}: bias {} does not fit output {}", op, e.bias->shape().str(), y.shape().str());
  if (e.residual != nullptr && e.residual->shape() != y.shape())
    fail<ShapeError>("{}: residual {} does not fit output {}", op, e.residual->shape().str(), y.shape().str());
}

bool has_bias(const Epilogue& e) { return e.bias != nullptr && e.bias->defined(); }

template <typename Params>
dims strides_of(const Params& p) { return {p.stride_h, p.stride_w}; }
template <typename Params>
dims pad_l_of(const Params& p) { return {p.pad_top, p.pad_left}; }
template <typename Params>
dims pad_r_of(const Params& p) { return {p.pad_bottom, p.pad_right}; }

alg eltwise_algorithm(ActivationKind kind, bool from_output = false) {
  if (kind == ActivationKind::elu) return from_output ? alg::eltwise_elu_use_dst_for_bwd : alg::eltwise_elu;
  return from_output ? alg::eltwise_relu_use_dst_for_bwd : alg::eltwise_relu;  // leaky: relu with a slope
}

OpKey& add_epilogue(OpKey& key, const Epilogue& e) {
  key.add(has_bias(e)).add(e.residual != nullptr).add(e.activate);
  if (e.activate) key.add(e.activation.kind).add(e.activation.alpha);
  return key;
}

// The epilogue's residual add and activation as post-ops; the residual tensor
// is then passed as DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1.
dnnl::primitive_attr epilogue_attr(const Epilogue& e, const dnnl::memory::desc& y) {
  dnnl::primitive_attr attr = scratchpad_attr();
  dnnl::post_ops ops;
  if (e.residual != nullptr) ops.append_binary(alg::binary_add, y);
  if (e.activate) ops.append_eltwise(1.0f, eltwise_algorithm(e.activation.kind), e.activation.alpha, 0.0f);
  attr.set_post_ops(ops);
  return attr;
}
constexpr int kResidualArgument = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;

// Forward convolution and inner product take the same arguments: src,
// weights, the bias and the residual post-op's operand when present, dst.
template <typename Primitive, typename PrimitiveDesc>
std::unique_ptr<CachedPrimitive> cached_forward(dnnl::engine& engine, const PrimitiveDesc& pd, const Epilogue& e) {
  return cached<Primitive>(engine, pd,
                           {{DNNL_ARG_SRC, pd.src_desc()},
                            {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                            {DNNL_ARG_BIAS, optional_desc(has_bias(e), pd.bias_desc())},
                            {kResidualArgument, optional_desc(e.residual != nullptr, pd.dst_desc())},
                            {DNNL_ARG_DST, pd.dst_desc()}});
}

dnnl::memory::desc any_weights(const Shape& w) {
  return dnnl::memory::desc(dims{w[3], w[2], w[0], w[1]}, dt::f32, tag::any);
}

dnnl::convolution_forward::primitive_desc conv_forward_pd(dnnl::engine& engine, const ConvParams& p, const Shape& x,
                                                          const Shape& w, const Shape& y, bool bias,
                                                          const dnnl::primitive_attr& attr) {
  const auto xd = nhwc_desc(x), wd = any_weights(w), yd = nhwc_desc(y);
  auto d = bias ? dnnl::convolution_forward::desc(prop::forward_training, alg::convolution_direct, xd, wd,
                                                  vector_desc(w[3]), yd, strides_of(p), pad_l_of(p), pad_r_of(p))
                : dnnl::convolution_forward::desc(prop::forward_training, alg::convolution_direct, xd, wd, yd,
                                                  strides_of(p), pad_l_of(p), pad_r_of(p));
  return {d, attr, engine};
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

OpKey eltwise_key(Op op, const ActivationParams& p, int64_t elements) {
  OpKey key;
  return key.add(op).add(elements).add(p.kind).add(p.alpha);
}

dnnl::normalization_flags batchnorm_flags(const BatchNormParams& p) {
  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  if (p.fuse_relu) flags |= dnnl::normalization_flags::fuse_norm_relu;
  return flags;
}

OpKey batchnorm_key(Op op, const BatchNormParams& p, const Shape& x) {
  OpKey key;
  return key.add(op).add(x).add(p.epsilon).add(p.fuse_relu);
}

dnnl::batch_normalization_forward::primitive_desc bn_training_pd(dnnl::engine& engine, const Shape& x,
                                                                 const BatchNormParams& p) {
  dnnl::batch_normalization_forward::desc d(prop::forward_training, nhwc_desc(x), p.epsilon, batchnorm_flags(p));
  return {d, scratchpad_attr(), engine};
}

dnnl::inner_product_forward::primitive_desc dense_forward_pd(dnnl::engine& engine, const Shape& x, const Shape& w,
                                                             bool bias, const dnnl::primitive_attr& attr) {
  const auto xd = matrix_desc(x[0], x[1]), wd = io_desc(w), yd = matrix_desc(x[0], w[1]);
  auto d = bias ? dnnl::inner_product_forward::desc(prop::forward_training, xd, wd, vector_desc(w[1]), yd)
                : dnnl::inner_product_forward::desc(prop::forward_training, xd, wd, yd);
  return {d, attr, engine};
}

MaxPoolGeometry max_pool_geometry(const Shape& x, const Shape& y) {
  return {x[0], x[1], x[2], x[3], y[1], y[2]};
}

}  // namespace

void CpuBackend::conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                              const Epilogue& epilogue) {
  check_conv("conv_forward", p, x.shape(), w.shape(), y.shape());
  check_epilogue("conv_forward", epilogue, y);
  const bool bias = has_bias(epilogue);
  OpKey key;
  add_epilogue(key.add(Op::conv_forward).add(x.shape()).add(w.shape()).add_window(p), epilogue);
  auto& primitive = cache_.get(key, [&] {
    auto pd = conv_forward_pd(engine_, p, x.shape(), w.shape(), y.shape(), bias,
                              epilogue_attr(epilogue, nhwc_desc(y.shape())));
    auto entry = cached_forward<dnnl::convolution_forward>(engine_, pd, epilogue);
    entry->stored_weights = hwio_desc(w.shape());
    return entry;
  }, small_conv(p, x.shape(), y.shape()));
  const void* blocked = weights_as(w, primitive.stored_weights, primitive.desc(DNNL_ARG_WEIGHTS));
  run(primitive, {x.raw(), blocked, bias ? epilogue.bias->raw() : nullptr,
                  epilogue.residual != nullptr ? epilogue.residual->raw() : nullptr, y.raw()});
}

void CpuBackend::conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  check_conv("conv_backward_data", p, dx.shape(), w.shape(), dy.shape());
  if (beta != 0.0f) {
    Tensor part = scratch(dx.shape());
    conv_backward_data(p, dy, w, part, 0.0f);
    accumulate(part, dx, beta);
    return;
  }
  OpKey key;
  key.add(Op::conv_backward_data).add(dx.shape()).add(w.shape()).add_window(p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = conv_forward_pd(engine_, p, dx.shape(), w.shape(), dy.shape(), false, scratchpad_attr());
    dnnl::convolution_backward_data::desc d(alg::convolution_direct, nhwc_desc(dx.shape()), any_weights(w.shape()),
                                            nhwc_desc(dy.shape()), strides_of(p), pad_l_of(p), pad_r_of(p));
    dnnl::convolution_backward_data::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    auto entry = cached<dnnl::convolution_backward_data>(engine_, pd,
                                                         {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                                          {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                          {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()}});
    entry->stored_weights = hwio_desc(w.shape());
    return entry;
  }, small_conv(p, dx.shape(), dy.shape()));
  const void* blocked = weights_as(w, primitive.stored_weights, primitive.desc(DNNL_ARG_WEIGHTS));
  run(primitive, {dy.raw(), blocked, dx.raw()});
}

void CpuBackend::conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                       Tensor& dbias, float beta) {
  check_conv("conv_backward_weights", p, x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (bias) check_channels("conv_backward_weights", dy.shape(), {&dbias});
  const ConvGeometry g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), dy.dim(1), dy.dim(2), dy.dim(3)};
  if (own_conv_weight_gradient(p, g)) {
    const size_t floats = conv_weight_gradient_partials(p, g, omp_get_max_threads());
    auto* partials = static_cast<float*>(staging(weight_gradient_partials_, floats * sizeof(float)));
    conv_weight_gradient(p, g, x.f32(), dy.f32(), dw.f32(), bias ? dbias.f32() : nullptr, beta, partials);
    return;
  }
  if (beta != 0.0f) {
    // Rare (gradient accumulation): the parts side by side in one scratch.
    const Tensor parts = scratch(Shape{dw.elements() + dbias.elements()});
    Tensor part_w = parts.slice(0, dw.shape());
    Tensor part_b = bias ? parts.slice(dw.elements(), dbias.shape()) : Tensor();
    conv_backward_weights(p, x, dy, part_w, part_b, 0.0f);
    accumulate(part_w, dw, beta);
    if (bias) accumulate(part_b, dbias, beta);
    return;
  }
  OpKey key;
  key.add(Op::conv_backward_weights).add(x.shape()).add(dw.shape()).add(bias).add_window(p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = conv_forward_pd(engine_, p, x.shape(), dw.shape(), dy.shape(), bias, scratchpad_attr());
    const auto xd = nhwc_desc(x.shape()), wd = any_weights(dw.shape()), yd = nhwc_desc(dy.shape());
    auto d = bias ? dnnl::convolution_backward_weights::desc(alg::convolution_direct, xd, wd, vector_desc(dw.dim(3)),
                                                             yd, strides_of(p), pad_l_of(p), pad_r_of(p))
                  : dnnl::convolution_backward_weights::desc(alg::convolution_direct, xd, wd, yd, strides_of(p),
                                                             pad_l_of(p), pad_r_of(p));
    dnnl::convolution_backward_weights::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    auto entry = cached_backward_weights<dnnl::convolution_backward_weights>(engine_, pd, bias);
    entry->stored_weights = hwio_desc(dw.shape());
    return entry;
  }, small_conv(p, x.shape(), dy.shape()));
  const dnnl::memory::desc& blocked = primitive.desc(DNNL_ARG_DIFF_WEIGHTS);
  const dnnl::memory::desc& plain = primitive.stored_weights;
  if (blocked == plain) {
    run(primitive, {x.raw(), dy.raw(), dw.raw(), dbias.raw()});
    return;
  }
  // The gradient comes out blocked; one reorder gives Stride's HWIO.
  key.add(Op::weight_gradient_reorder);
  auto& reorder = cache_.get(key, [&] {
    dnnl::reorder::primitive_desc pd(engine_, blocked, engine_, plain, scratchpad_attr());
    return cached<dnnl::reorder>(engine_, pd, {{DNNL_ARG_FROM, blocked}, {DNNL_ARG_TO, plain}});
  }, true);
  void* blocked_gradient = staging(weight_gradient_staging_, blocked.get_size());
  run(primitive, {x.raw(), dy.raw(), blocked_gradient, dbias.raw()});
  run(reorder, {blocked_gradient, dw.raw()});
}

size_t CpuBackend::pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) {
  if (p.kind != PoolKind::max) return 0;
  if (own_max_pool(p)) return max_pool_record_bytes(max_pool_geometry(x, y));
  return pool_forward_pd(engine_, p, x, y, true).workspace_desc().get_size();
}

void CpuBackend::pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  check_window("pool_forward", p, x.shape(), y.shape(), x.dim(3));
  // Max pooling records argmax positions only when a workspace is given (training).
  const bool record = p.kind == PoolKind::max && workspace.defined();
  if (own_max_pool(p)) {
    const MaxPoolGeometry g = max_pool_geometry(x.shape(), y.shape());
    if (record && workspace.bytes() < max_pool_record_bytes(g))
      fail<ShapeError>("pool_forward: workspace of {} bytes is too small", workspace.bytes());
    max_pool_forward(p, g, x.f32(), y.f32(), record ? workspace.u8() : nullptr);
    return;
  }
  OpKey key;
  key.add(record ? Op::pool_forward_training : Op::pool_forward_inference).add(x.shape()).add(p.kind).add_window(p);
  auto& primitive = cache_.get(key, [&] {
    auto pd = pool_forward_pd(engine_, p, x.shape(), y.shape(), record);
    return cached<dnnl::pooling_forward>(engine_, pd,
                                         {{DNNL_ARG_SRC, pd.src_desc()},
                                          {DNNL_ARG_DST, pd.dst_desc()},
                                          {DNNL_ARG_WORKSPACE, optional_desc(record, pd.workspace_desc())}});
  }, small_elementwise(x.elements()));
  if (record && workspace.bytes() < primitive.desc(DNNL_ARG_WORKSPACE).get_size())
    fail<ShapeError>("pool_forward: workspace of {} bytes is too small", workspace.bytes());
  run(primitive, {x.raw(), y.raw(), record ? workspace.raw() : nullptr});
}

void CpuBackend::pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                               const Tensor& workspace, Tensor& dx) {
  (void)x, (void)y;  // the argmax record is all max pooling needs
  check_window("pool_backward", p, dx.shape(), dy.shape(), dx.dim(3));
  const bool max = p.kind == PoolKind::max;
  if (max && !workspace.defined()) fail<ShapeError>("pool_backward: max pooling needs its forward workspace");
  if (own_max_pool(p)) {
    const MaxPoolGeometry g = max_pool_geometry(dx.shape(), dy.shape());
    if (workspace.bytes() < max_pool_record_bytes(g))
      fail<ShapeError>("pool_backward: workspace of {} bytes is too small", workspace.bytes());
    max_pool_backward(p, g, dy.f32(), workspace.u8(), dx.f32());
    return;
  }
  OpKey key;
  key.add(Op::pool_backward).add(dx.shape()).add(p.kind).add_window(p);
  auto& primitive = cache_.get(key, [&] {
    auto hint = pool_forward_pd(engine_, p, dx.shape(), dy.shape(), true);
    dnnl::pooling_backward::desc d(pool_algorithm(p.kind), nhwc_desc(dx.shape()), nhwc_desc(dy.shape()),
                                   strides_of(p), {p.kernel_h, p.kernel_w}, pad_l_of(p), pad_r_of(p));
    dnnl::pooling_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::pooling_backward>(engine_, pd,
                                          {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                           {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()},
                                           {DNNL_ARG_WORKSPACE, optional_desc(max, pd.workspace_desc())}});
  }, small_elementwise(dx.elements()));
  run(primitive, {dy.raw(), dx.raw(), max ? workspace.raw() : nullptr});
}

void CpuBackend::activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) {
  if (x.elements() != y.elements()) fail<ShapeError>("activation: {} into {}", x.shape().str(), y.shape().str());
  auto& primitive = cache_.get(eltwise_key(Op::eltwise_forward, p, x.elements()), [&] {
    const auto md = vector_desc(x.elements());
    dnnl::eltwise_forward::desc d(prop::forward_training, eltwise_algorithm(p.kind), md, p.alpha);
    dnnl::eltwise_forward::primitive_desc pd(d, scratchpad_attr(), engine_);
    return cached<dnnl::eltwise_forward>(engine_, pd, {{DNNL_ARG_SRC, md}, {DNNL_ARG_DST, md}});
  }, small_elementwise(x.elements()));
  run(primitive, {x.raw(), y.raw()});
}

void CpuBackend::activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                     Tensor& dx) {
  // From the input when there is one; from the output when the activation was
  // fused into the op that wrote y (oneDNN's *_use_dst_for_bwd: exact for
  // relu, leaky relu with alpha >= 0 and elu).
  const bool from_output = !x.defined();
  const Tensor& source = from_output ? y : x;
  if (source.elements() != dy.elements() || source.elements() != dx.elements())
    fail<ShapeError>("activation_backward: {} vs {}", source.shape().str(), dy.shape().str());
  if (from_output && p.kind == ActivationKind::leaky_relu && p.alpha < 0)
    fail<ShapeError>("activation_backward: leaky relu with a negative slope needs its input");
  const Op op = from_output ? Op::eltwise_backward_from_output : Op::eltwise_backward;
  auto& primitive = cache_.get(eltwise_key(op, p, source.elements()), [&] {
    const auto md = vector_desc(source.elements());
    const alg algorithm = eltwise_algorithm(p.kind, from_output);
    dnnl::eltwise_forward::primitive_desc hint(dnnl::eltwise_forward::desc(prop::forward_training, algorithm, md,
                                                                           p.alpha),
                                               engine_);
    dnnl::eltwise_backward::desc d(algorithm, md, md, p.alpha);
    dnnl::eltwise_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::eltwise_backward>(
        engine_, pd, {{from_output ? DNNL_ARG_DST : DNNL_ARG_SRC, md}, {DNNL_ARG_DIFF_DST, md}, {DNNL_ARG_DIFF_SRC, md}});
  }, small_elementwise(source.elements()));
  run(primitive, {source.raw(), dy.raw(), dx.raw()});
}

size_t CpuBackend::batchnorm_reserve_bytes(const BatchNormParams& p, const Shape& x) {
  if (!p.fuse_relu) return 0;
  return bn_training_pd(engine_, x, p).workspace_desc().get_size();
}

void CpuBackend::batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                            Tensor& running_mean, Tensor& running_var, Tensor& reserve) {
  check_channels("batchnorm", x.shape(), {&gamma, &beta, &saved_mean, &saved_var, &running_mean, &running_var});
  if (x.shape() != y.shape()) fail<ShapeError>("batchnorm: {} into {}", x.shape().str(), y.shape().str());
  auto& primitive = cache_.get(batchnorm_key(Op::batchnorm_training, p, x.shape()), [&] {
    auto pd = bn_training_pd(engine_, x.shape(), p);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_forward>(
        engine_, pd,
        {{DNNL_ARG_SRC, pd.src_desc()},
         {DNNL_ARG_SCALE, channels},
         {DNNL_ARG_SHIFT, channels},
         {DNNL_ARG_DST, pd.dst_desc()},
         {DNNL_ARG_MEAN, pd.mean_desc()},
         {DNNL_ARG_VARIANCE, pd.variance_desc()},
         {DNNL_ARG_WORKSPACE, optional_desc(p.fuse_relu, pd.workspace_desc())}});
  }, small_elementwise(x.elements()));
  if (p.fuse_relu && reserve.bytes() < primitive.desc(DNNL_ARG_WORKSPACE).get_size())
    fail<ShapeError>("batchnorm: reserve of {} bytes is too small for the fused relu", reserve.bytes());
  run(primitive, {x.raw(), gamma.raw(), beta.raw(), y.raw(), saved_mean.raw(), saved_var.raw(),
                  p.fuse_relu ? reserve.raw() : nullptr});

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
  auto& primitive = cache_.get(batchnorm_key(Op::batchnorm_inference, p, x.shape()), [&] {
    dnnl::batch_normalization_forward::desc d(prop::forward_inference, nhwc_desc(x.shape()), p.epsilon,
                                              batchnorm_flags(p) | dnnl::normalization_flags::use_global_stats);
    dnnl::batch_normalization_forward::primitive_desc pd(d, scratchpad_attr(), engine_);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_forward>(engine_, pd,
                                                     {{DNNL_ARG_SRC, pd.src_desc()},
                                                      {DNNL_ARG_MEAN, channels},
                                                      {DNNL_ARG_VARIANCE, channels},
                                                      {DNNL_ARG_SCALE, channels},
                                                      {DNNL_ARG_SHIFT, channels},
                                                      {DNNL_ARG_DST, pd.dst_desc()}});
  }, small_elementwise(x.elements()));
  run(primitive, {x.raw(), running_mean.raw(), running_var.raw(), gamma.raw(), beta.raw(), y.raw()});
}

void CpuBackend::batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                    const Tensor& saved_mean, const Tensor& saved_var, const Tensor& reserve,
                                    Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  check_channels("batchnorm_backward", x.shape(), {&gamma, &saved_mean, &saved_var, &dgamma, &dbeta});
  if (x.shape() != dy.shape() || x.shape() != dx.shape())
    fail<ShapeError>("batchnorm_backward: {} vs {}", x.shape().str(), dy.shape().str());
  auto& primitive = cache_.get(batchnorm_key(Op::batchnorm_backward, p, x.shape()), [&] {
    auto hint = bn_training_pd(engine_, x.shape(), p);
    const auto md = nhwc_desc(x.shape());
    dnnl::batch_normalization_backward::desc d(prop::backward, md, md, p.epsilon, batchnorm_flags(p));
    dnnl::batch_normalization_backward::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    const auto channels = vector_desc(x.dim(3));
    return cached<dnnl::batch_normalization_backward>(
        engine_, pd,
        {{DNNL_ARG_SRC, md},
         {DNNL_ARG_MEAN, channels},
         {DNNL_ARG_VARIANCE, channels},
         {DNNL_ARG_DIFF_DST, md},
         {DNNL_ARG_SCALE, channels},
         {DNNL_ARG_SHIFT, channels},
         {DNNL_ARG_WORKSPACE, optional_desc(p.fuse_relu, pd.workspace_desc())},
         {DNNL_ARG_DIFF_SRC, md},
         {DNNL_ARG_DIFF_SCALE, channels},
         {DNNL_ARG_DIFF_SHIFT, channels}});
  }, small_elementwise(x.elements()));
  if (p.fuse_relu && !reserve.defined())
    fail<ShapeError>("batchnorm_backward: the fused relu needs the reserve its forward wrote");
  // oneDNN 2.x counts the shift as an input of backward with use_shift (and
  // rejects the call without it) but never reads it: gamma's buffer stands in.
  run(primitive, {x.raw(), saved_mean.raw(), saved_var.raw(), dy.raw(), gamma.raw(), gamma.raw(),
                  p.fuse_relu ? reserve.raw() : nullptr, dx.raw(), dgamma.raw(), dbeta.raw()});
}

void CpuBackend::dense_forward(const Tensor& x, const Tensor& w, Tensor& y, const Epilogue& epilogue) {
  check_dense("dense_forward", x.shape(), w.shape(), y.shape());
  check_epilogue("dense_forward", epilogue, y);
  const bool bias = has_bias(epilogue);
  OpKey key;
  add_epilogue(key.add(Op::dense_forward).add(x.shape()).add(w.shape()), epilogue);
  auto& primitive = cache_.get(key, [&] {
    auto pd = dense_forward_pd(engine_, x.shape(), w.shape(), bias,
                               epilogue_attr(epilogue, matrix_desc(y.dim(0), y.dim(1))));
    return cached_forward<dnnl::inner_product_forward>(engine_, pd, epilogue);
  }, small_dense(x.shape(), w.shape()));
  run(primitive, {x.raw(), w.raw(), bias ? epilogue.bias->raw() : nullptr,
                  epilogue.residual != nullptr ? epilogue.residual->raw() : nullptr, y.raw()});
}

void CpuBackend::dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  check_dense("dense_backward_data", dx.shape(), w.shape(), dy.shape());
  if (beta != 0.0f) {
    Tensor part = scratch(dx.shape());
    dense_backward_data(dy, w, part, 0.0f);
    accumulate(part, dx, beta);
    return;
  }
  OpKey key;
  key.add(Op::dense_backward_data).add(dx.shape()).add(w.shape());
  auto& primitive = cache_.get(key, [&] {
    auto hint = dense_forward_pd(engine_, dx.shape(), w.shape(), false, scratchpad_attr());
    dnnl::inner_product_backward_data::desc d(matrix_desc(dx.dim(0), dx.dim(1)), io_desc(w.shape()),
                                              matrix_desc(dy.dim(0), dy.dim(1)));
    dnnl::inner_product_backward_data::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached<dnnl::inner_product_backward_data>(engine_, pd,
                                                     {{DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                                                      {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                      {DNNL_ARG_DIFF_SRC, pd.diff_src_desc()}});
  }, small_dense(dx.shape(), w.shape()));
  run(primitive, {dy.raw(), w.raw(), dx.raw()});
}

void CpuBackend::dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias, float beta) {
  check_dense("dense_backward_weights", x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (beta != 0.0f) {
    const Tensor parts = scratch(Shape{dw.elements() + dbias.elements()});
    Tensor part_w = parts.slice(0, dw.shape());
    Tensor part_b = bias ? parts.slice(dw.elements(), dbias.shape()) : Tensor();
    dense_backward_weights(x, dy, part_w, part_b, 0.0f);
    accumulate(part_w, dw, beta);
    if (bias) accumulate(part_b, dbias, beta);
    return;
  }
  OpKey key;
  key.add(Op::dense_backward_weights).add(x.shape()).add(dw.shape()).add(bias);
  auto& primitive = cache_.get(key, [&] {
    auto hint = dense_forward_pd(engine_, x.shape(), dw.shape(), bias, scratchpad_attr());
    const auto xd = matrix_desc(x.dim(0), x.dim(1)), wd = io_desc(dw.shape()), yd = matrix_desc(dy.dim(0), dy.dim(1));
    auto d = bias ? dnnl::inner_product_backward_weights::desc(xd, wd, vector_desc(dw.dim(1)), yd)
                  : dnnl::inner_product_backward_weights::desc(xd, wd, yd);
    dnnl::inner_product_backward_weights::primitive_desc pd(d, scratchpad_attr(), engine_, hint);
    return cached_backward_weights<dnnl::inner_product_backward_weights>(engine_, pd, bias);
  }, small_dense(x.shape(), dw.shape()));
  run(primitive, {x.raw(), dy.raw(), dw.raw(), dbias.raw()});
}

}  // namespace stride::cpu
