// Convolution ops on cuDNN. The input is used as it is, unless the padding is
// asymmetric (then a zero-padded copy) or the op's plan runs on bf16 (then a
// bf16 copy, padded in the same pass). Kernels go to cuDNN as KRSC copies from the
// weight cache. The epilogue (bias, residual, activation, and the bf16 -> f32
// conversion) is one pass after the convolution. Weight gradients come out of
// cuDNN as KRSC and are transposed back into HWIO with beta; input gradients
// of padded convolutions are cropped out of the padded gradient.
#include "cuda_backend.h"
#include "cuda_plans.h"
#include "cuda_shapes.h"

namespace stride::cuda {

const void* CudaBackend::conv_input(const ConvPlan& plan, const ConvParams& p, const Tensor& x) {
  if (!plan.padded && !plan.half) return x.raw();
  const int64_t elements = x.dim(0) * plan.padded_h * plan.padded_w * x.dim(3);
  void* staged = grow(conv_input_, static_cast<size_t>(elements) * (plan.half ? 2 : 4));
  if (plan.padded)
    launch_pad_nhwc(x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), p.pad_top, p.pad_left, plan.padded_h,
                    plan.padded_w, staged, plan.half, s());
  else
    launch_to_bf16(x.f32(), static_cast<uint16_t*>(staged), x.elements(), s());
  return staged;
}

const void* CudaBackend::conv_gradient(const ConvPlan& plan, const Tensor& dy) {
  if (!plan.half) return dy.raw();
  void* staged = grow(conv_gradient_, dy.bytes() / 2);
  launch_to_bf16(dy.f32(), static_cast<uint16_t*>(staged), dy.elements(), s());
  return staged;
}

void CudaBackend::conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                               const Epilogue& epilogue) {
  check_conv("conv_forward", p, x.shape(), w.shape(), y.shape());
  check_epilogue("conv_forward", epilogue, y);
  ConvPlan& plan = conv_plan(ConvOp::forward, p, x.shape(), w.shape(), y.shape());
  const void* input = conv_input(plan, p, x);
  const void* filter = weights_as(w, plan.half ? WeightForm::krsc_bf16 : WeightForm::krsc_f32);
  void* output = plan.half ? grow(conv_output_, y.bytes() / 2) : y.raw();
  run_conv(plan, input, filter, output, 0.0f);
  const bool bias = has_bias(epilogue);
  if (plan.half || bias || epilogue.residual != nullptr || epilogue.activate)
    launch_epilogue(output, plan.half, bias ? epilogue.bias->f32() : nullptr,
                    epilogue.residual != nullptr ? epilogue.residual->f32() : nullptr, y.f32(), y.elements(), y.dim(3),
                    act_args(epilogue), s());
}

void CudaBackend::conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  check_conv("conv_backward_data", p, dx.shape(), w.shape(), dy.shape());
  ConvPlan& plan = conv_plan(ConvOp::backward_data, p, dx.shape(), w.shape(), dy.shape());
  const void* grad = conv_gradient(plan, dy);
  const void* filter = weights_as(w, plan.half ? WeightForm::krsc_bf16 : WeightForm::krsc_f32);
  // Straight into dx (cuDNN applies beta) unless it has to be cropped or converted first.
  const bool direct = !plan.padded && !plan.half;
  const int64_t elements = dx.dim(0) * plan.padded_h * plan.padded_w * dx.dim(3);
  void* output = direct ? dx.raw() : grow(conv_output_, static_cast<size_t>(elements) * (plan.half ? 2 : 4));
  run_conv(plan, filter, grad, output, direct ? beta : 0.0f);
  if (plan.padded)
    launch_crop_nhwc(output, plan.half, dx.dim(0), plan.padded_h, plan.padded_w, dx.dim(3), p.pad_top, p.pad_left,
                     dx.f32(), dx.dim(1), dx.dim(2), beta, s());
  else if (plan.half)
    launch_from_bf16(static_cast<const uint16_t*>(output), dx.f32(), dx.elements(), beta, s());
}

void CudaBackend::conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                        Tensor& dbias, float beta) {
  check_conv("conv_backward_weights", p, x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (bias) check_channels("conv_backward_weights", dy.shape(), {&dbias});
  ConvPlan& plan = conv_plan(ConvOp::backward_filter, p, x.shape(), dw.shape(), dy.shape());
  const void* input = conv_input(plan, p, x);
  const void* grad = conv_gradient(plan, dy);
  void* krsc = grow(conv_output_, dw.bytes() / (plan.half ? 2 : 1));
  run_conv(plan, input, grad, krsc, 0.0f);
  // [K, KH*KW*C] -> HWIO [KH*KW*C, K], dw = beta * dw + that.
  const int64_t k = dw.dim(3);
  launch_transpose(krsc, plan.half, k, dw.elements() / k, dw.raw(), false, beta, s());
  if (bias) bias_gradient(dy, dbias, beta);
}

void CudaBackend::channel_sums(const ChannelSumArgs& args) {
  const int64_t partials = channel_sum_partials(args.rows, args.channels);
  launch_channel_sums(args, static_cast<double*>(grow(partials_, static_cast<size_t>(partials) * sizeof(double))), s());
}

void CudaBackend::bias_gradient(const Tensor& dy, Tensor& dbias, float beta) {
  ChannelSumArgs args;
  args.kind = ChannelSum::sum;
  args.a = dy.f32();
  args.beta = beta;
  args.out0 = dbias.f32();
  args.channels = dbias.elements();
  args.rows = dy.elements() / args.channels;
  channel_sums(args);
}

}  // namespace stride::cuda
