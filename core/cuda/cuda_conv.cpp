// Convolution ops on cuDNN. The input is used as it is, unless the padding is
// asymmetric (then a zero-padded copy) or the arithmetic is bf16 (then a bf16
// copy, padded in the same pass). Kernels go to cuDNN as KRSC copies from the
// weight cache. The epilogue (bias, residual, activation, and the bf16 -> f32
// conversion) is one pass after the convolution. Weight gradients come out of
// cuDNN as KRSC and are transposed back into HWIO with beta; input gradients
// of padded convolutions are cropped out of the padded gradient.
#include "cuda_backend.h"
#include "cuda_plans.h"
#include "cuda_shapes.h"

namespace stride::cuda {
namespace {

struct Padded {
  bool padded = false;
  int64_t h = 0, w = 0;
};

Padded padded_input(const ConvParams& p, const Shape& x) {
  const bool symmetric = symmetric_padding(p);
  return {!symmetric, x[1] + (symmetric ? 0 : p.pad_top + p.pad_bottom),
          x[2] + (symmetric ? 0 : p.pad_left + p.pad_right)};
}

}  // namespace

void CudaBackend::conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                               const Epilogue& epilogue) {
  check_conv("conv_forward", p, x.shape(), w.shape(), y.shape());
  check_epilogue("conv_forward", epilogue, y);
  const bool half = bf16();
  const Padded in = padded_input(p, x.shape());
  const void* input = x.raw();
  if (in.padded || half) {
    const int64_t elements = x.dim(0) * in.h * in.w * x.dim(3);
    void* staged = grow(conv_input_, static_cast<size_t>(elements) * (half ? 2 : 4));
    if (in.padded)
      launch_pad_nhwc(x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), p.pad_top, p.pad_left, in.h, in.w, staged,
                      half, s());
    else
      launch_to_bf16(x.f32(), static_cast<uint16_t*>(staged), x.elements(), s());
    input = staged;
  }
  const void* filter = weights_as(w, half ? WeightForm::krsc_bf16 : WeightForm::krsc_f32);
  void* output = half ? grow(conv_output_, y.bytes() / 2) : y.raw();
  ConvPlan& plan = conv_plan(ConvOp::forward, p, x.shape(), w.shape(), y.shape(), input, filter, output);
  run_conv(plan, input, filter, output, 0.0f);
  const bool bias = has_bias(epilogue);
  if (half || bias || epilogue.residual != nullptr || epilogue.activate)
    launch_epilogue(output, half, bias ? epilogue.bias->f32() : nullptr,
                    epilogue.residual != nullptr ? epilogue.residual->f32() : nullptr, y.f32(), y.elements(),
                    y.dim(3), act_args(epilogue), s());
}

void CudaBackend::conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx,
                                     float beta) {
  check_conv("conv_backward_data", p, dx.shape(), w.shape(), dy.shape());
  const bool half = bf16();
  const Padded in = padded_input(p, dx.shape());
  const void* grad = dy.raw();
  if (half) {
    void* staged = grow(conv_gradient_, dy.bytes() / 2);
    launch_to_bf16(dy.f32(), static_cast<uint16_t*>(staged), dy.elements(), s());
    grad = staged;
  }
  const void* filter = weights_as(w, half ? WeightForm::krsc_bf16 : WeightForm::krsc_f32);
  // Straight into dx (cuDNN applies beta) unless it has to be cropped or converted first.
  const bool direct = !in.padded && !half;
  const int64_t elements = dx.dim(0) * in.h * in.w * dx.dim(3);
  void* output = direct ? dx.raw() : grow(conv_output_, static_cast<size_t>(elements) * (half ? 2 : 4));
  ConvPlan& plan = conv_plan(ConvOp::backward_data, p, dx.shape(), w.shape(), dy.shape(), filter, grad, nullptr);
  run_conv(plan, filter, grad, output, direct ? beta : 0.0f);
  if (in.padded)
    launch_crop_nhwc(output, half, dx.dim(0), in.h, in.w, dx.dim(3), p.pad_top, p.pad_left, dx.f32(), dx.dim(1),
                     dx.dim(2), beta, s());
  else if (half)
    launch_from_bf16(static_cast<const uint16_t*>(output), dx.f32(), dx.elements(), beta, s());
}

void CudaBackend::conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                        Tensor& dbias, float beta) {
  check_conv("conv_backward_weights", p, x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (bias) check_channels("conv_backward_weights", dy.shape(), {&dbias});
  const bool half = bf16();
  const Padded in = padded_input(p, x.shape());
  const void* input = x.raw();
  if (in.padded || half) {
    const int64_t elements = x.dim(0) * in.h * in.w * x.dim(3);
    void* staged = grow(conv_input_, static_cast<size_t>(elements) * (half ? 2 : 4));
    if (in.padded)
      launch_pad_nhwc(x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), p.pad_top, p.pad_left, in.h, in.w, staged,
                      half, s());
    else
      launch_to_bf16(x.f32(), static_cast<uint16_t*>(staged), x.elements(), s());
    input = staged;
  }
  const void* grad = dy.raw();
  if (half) {
    void* staged = grow(conv_gradient_, dy.bytes() / 2);
    launch_to_bf16(dy.f32(), static_cast<uint16_t*>(staged), dy.elements(), s());
    grad = staged;
  }
  void* krsc = grow(conv_output_, dw.bytes() / (half ? 2 : 1));
  ConvPlan& plan = conv_plan(ConvOp::backward_filter, p, x.shape(), dw.shape(), dy.shape(), input, grad, krsc);
  run_conv(plan, input, grad, krsc, 0.0f);
  // [K, KH*KW*C] -> HWIO [KH*KW*C, K], dw = beta * dw + that.
  const int64_t k = dw.dim(3);
  launch_transpose(krsc, half, k, dw.elements() / k, dw.raw(), false, beta, s());
  if (bias) bias_gradient(dy, dbias, beta);
}

void CudaBackend::channel_sums(const ChannelSumArgs& args) {
  const int64_t partials = channel_sum_partials(args.rows, args.channels);
  launch_channel_sums(args, static_cast<double*>(grow(partials_, static_cast<size_t>(partials) * sizeof(double))),
                      s());
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
