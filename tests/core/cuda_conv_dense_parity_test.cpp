// CUDA against CPU for the ops with weights and windows: convolution forward
// with every epilogue, its input and kernel gradients with and without beta,
// dense likewise, and max/average/global pooling. The cases cover batch 1, one
// input channel, odd sizes, stride 2, and asymmetric "same" padding (stride 2
// on even inputs, even kernels), which the CUDA backend pads explicitly.
#include <gtest/gtest.h>

#include "cuda_parity.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

struct ConvCase {
  const char* name;
  int64_t n, h, w, c, k, kh, kw, sh, sw;
  Padding padding;
};

const ConvCase kConvCases[] = {
    {"batch 1, one channel, odd 7x9, 3x3 same", 1, 7, 9, 1, 4, 3, 3, 1, 1, Padding::same},
    {"stride 2 same on even 8x6 (pads 0 before, 1 after)", 2, 8, 6, 3, 5, 3, 3, 2, 2, Padding::same},
    {"stride 2 same on odd 9x7", 2, 9, 7, 2, 3, 3, 3, 2, 2, Padding::same},
    {"3x2 kernel same (asymmetric in width only)", 2, 5, 6, 4, 6, 3, 2, 1, 1, Padding::same},
    {"5x5 valid, stride 2x1", 3, 11, 8, 2, 3, 5, 5, 2, 1, Padding::valid},
    {"1x1 stride 2 projection", 2, 8, 8, 16, 8, 1, 1, 2, 2, Padding::same},
    {"32 to 64 channels, 3x3 same", 2, 6, 6, 32, 64, 3, 3, 1, 1, Padding::same},
};

ConvParams params_of(const ConvCase& c) {
  ConvParams p;
  p.kernel_h = c.kh, p.kernel_w = c.kw, p.stride_h = c.sh, p.stride_w = c.sw;
  const AxisPadding h = axis_padding(c.padding, c.h, c.kh, c.sh), w = axis_padding(c.padding, c.w, c.kw, c.sw);
  p.pad_top = h.before, p.pad_bottom = h.after, p.pad_left = w.before, p.pad_right = w.after;
  return p;
}

Shape output_of(const ConvCase& c) {
  const ConvParams p = params_of(c);
  return Shape{c.n, window_output_size(c.h, c.kh, c.sh, p.pad_top, p.pad_bottom),
               window_output_size(c.w, c.kw, c.sw, p.pad_left, p.pad_right), c.k};
}

struct EpilogueCase {
  const char* name;
  bool bias, residual, activate;
  ActivationParams activation;
};

const EpilogueCase kEpilogues[] = {
    {"none", false, false, false, {}},
    {"bias", true, false, false, {}},
    {"bias + relu", true, false, true, {ActivationKind::relu, 0.0f}},
    {"residual + leaky relu", false, true, true, {ActivationKind::leaky_relu, 0.1f}},
    {"bias + residual + elu", true, true, true, {ActivationKind::elu, 1.0f}},
};

class CudaConvParityTest : public CudaParityTest {};

TEST_F(CudaConvParityTest, ForwardWithEveryEpilogue) {
  for (const ConvCase& c : kConvCases) {
    SCOPED_TRACE(c.name);
    const ConvParams p = params_of(c);
    const Shape ys = output_of(c);
    Pair x = random_pair(Shape{c.n, c.h, c.w, c.c}, 1);
    Pair w = random_pair(Shape{c.kh, c.kw, c.c, c.k}, 2, -0.5f, 0.5f);
    Pair bias = random_pair(Shape{c.k}, 3);
    Pair residual = random_pair(ys, 4);
    for (const EpilogueCase& e : kEpilogues) {
      SCOPED_TRACE(e.name);
      Pair y = output(ys);
      Epilogue on_cpu, on_gpu;
      on_cpu.bias = e.bias ? &bias.cpu : nullptr;
      on_gpu.bias = e.bias ? &bias.gpu : nullptr;
      on_cpu.residual = e.residual ? &residual.cpu : nullptr;
      on_gpu.residual = e.residual ? &residual.gpu : nullptr;
      on_cpu.activate = on_gpu.activate = e.activate;
      on_cpu.activation = on_gpu.activation = e.activation;
      cpu().conv_forward(p, x.cpu, w.cpu, y.cpu, on_cpu);
      gpu().conv_forward(p, x.gpu, w.gpu, y.gpu, on_gpu);
      EXPECT_TRUE(agree(y, 1e-4, 1e-4));
    }
  }
}

TEST_F(CudaConvParityTest, InputGradientOverwritesOrAccumulates) {
  for (const ConvCase& c : kConvCases) {
    SCOPED_TRACE(c.name);
    const ConvParams p = params_of(c);
    Pair dy = random_pair(output_of(c), 5);
    Pair w = random_pair(Shape{c.kh, c.kw, c.c, c.k}, 6, -0.5f, 0.5f);
    Pair dx = output(Shape{c.n, c.h, c.w, c.c});
    cpu().conv_backward_data(p, dy.cpu, w.cpu, dx.cpu);
    gpu().conv_backward_data(p, dy.gpu, w.gpu, dx.gpu);
    EXPECT_TRUE(agree(dx, 1e-4, 1e-4)) << "beta 0";
    Pair accumulated = random_pair(dx.cpu.shape(), 7);
    cpu().conv_backward_data(p, dy.cpu, w.cpu, accumulated.cpu, 0.5f);
    gpu().conv_backward_data(p, dy.gpu, w.gpu, accumulated.gpu, 0.5f);
    EXPECT_TRUE(agree(accumulated, 1e-4, 1e-4)) << "beta 0.5";
  }
}

TEST_F(CudaConvParityTest, KernelAndBiasGradientsOverwriteOrAccumulate) {
  for (const ConvCase& c : kConvCases) {
    SCOPED_TRACE(c.name);
    const ConvParams p = params_of(c);
    Pair x = random_pair(Shape{c.n, c.h, c.w, c.c}, 8);
    Pair dy = random_pair(output_of(c), 9);
    const Shape ws{c.kh, c.kw, c.c, c.k};
    Pair dw = output(ws), dbias = output(Shape{c.k});
    cpu().conv_backward_weights(p, x.cpu, dy.cpu, dw.cpu, dbias.cpu);
    gpu().conv_backward_weights(p, x.gpu, dy.gpu, dw.gpu, dbias.gpu);
    EXPECT_TRUE(agree(dw, 1e-4, 1e-4)) << "kernel, beta 0";
    EXPECT_TRUE(agree(dbias, 1e-4, 1e-4)) << "bias, beta 0";
    Pair dw_sum = random_pair(ws, 10), dbias_sum = random_pair(Shape{c.k}, 11);
    cpu().conv_backward_weights(p, x.cpu, dy.cpu, dw_sum.cpu, dbias_sum.cpu, 0.5f);
    gpu().conv_backward_weights(p, x.gpu, dy.gpu, dw_sum.gpu, dbias_sum.gpu, 0.5f);
    EXPECT_TRUE(agree(dw_sum, 1e-4, 1e-4)) << "kernel, beta 0.5";
    EXPECT_TRUE(agree(dbias_sum, 1e-4, 1e-4)) << "bias, beta 0.5";
    Pair dw_only = output(ws);
    Tensor none;
    cpu().conv_backward_weights(p, x.cpu, dy.cpu, dw_only.cpu, none);
    gpu().conv_backward_weights(p, x.gpu, dy.gpu, dw_only.gpu, none);
    EXPECT_TRUE(agree(dw_only, 1e-4, 1e-4)) << "no bias";
  }
}

TEST_F(CudaConvParityTest, KernelCopiesFollowWritesToTheKernel) {
  // The backend keeps a KRSC copy of the kernel; writing the kernel (as the
  // optimizer does) must be seen by the next convolution.
  const ConvCase& c = kConvCases[1];
  const ConvParams p = params_of(c);
  Pair x = random_pair(Shape{c.n, c.h, c.w, c.c}, 12);
  Pair w = random_pair(Shape{c.kh, c.kw, c.c, c.k}, 13);
  Pair y = output(output_of(c));
  gpu().conv_forward(p, x.gpu, w.gpu, y.gpu);
  const Values before = gpu_values(y);
  gpu().scale(w.gpu, -2.0f);
  cpu().scale(w.cpu, -2.0f);
  gpu().conv_forward(p, x.gpu, w.gpu, y.gpu);
  cpu().conv_forward(p, x.cpu, w.cpu, y.cpu);
  EXPECT_TRUE(agree(y, 1e-4, 1e-4));
  EXPECT_NE(gpu_values(y), before);
}

struct DenseCase {
  const char* name;
  int64_t n, in, out;
};
const DenseCase kDenseCases[] = {{"batch 1", 1, 7, 5}, {"odd sizes", 3, 13, 10}, {"wider", 32, 300, 64}};

TEST_F(CudaConvParityTest, DenseForwardWithEveryEpilogue) {
  for (const DenseCase& c : kDenseCases) {
    SCOPED_TRACE(c.name);
    Pair x = random_pair(Shape{c.n, c.in}, 20);
    Pair w = random_pair(Shape{c.in, c.out}, 21, -0.5f, 0.5f);
    Pair bias = random_pair(Shape{c.out}, 22);
    Pair residual = random_pair(Shape{c.n, c.out}, 23);
    for (const EpilogueCase& e : kEpilogues) {
      SCOPED_TRACE(e.name);
      Pair y = output(Shape{c.n, c.out});
      Epilogue on_cpu, on_gpu;
      on_cpu.bias = e.bias ? &bias.cpu : nullptr;
      on_gpu.bias = e.bias ? &bias.gpu : nullptr;
      on_cpu.residual = e.residual ? &residual.cpu : nullptr;
      on_gpu.residual = e.residual ? &residual.gpu : nullptr;
      on_cpu.activate = on_gpu.activate = e.activate;
      on_cpu.activation = on_gpu.activation = e.activation;
      cpu().dense_forward(x.cpu, w.cpu, y.cpu, on_cpu);
      gpu().dense_forward(x.gpu, w.gpu, y.gpu, on_gpu);
      EXPECT_TRUE(agree(y, 1e-4, 1e-4));
    }
  }
}

TEST_F(CudaConvParityTest, DenseGradientsOverwriteOrAccumulate) {
  for (const DenseCase& c : kDenseCases) {
    SCOPED_TRACE(c.name);
    Pair x = random_pair(Shape{c.n, c.in}, 24);
    Pair w = random_pair(Shape{c.in, c.out}, 25, -0.5f, 0.5f);
    Pair dy = random_pair(Shape{c.n, c.out}, 26);
    for (float beta : {0.0f, 0.5f}) {
      SCOPED_TRACE(beta == 0.0f ? "beta 0" : "beta 0.5");
      Pair dx = beta == 0.0f ? output(x.cpu.shape()) : random_pair(x.cpu.shape(), 27);
      Pair dw = beta == 0.0f ? output(w.cpu.shape()) : random_pair(w.cpu.shape(), 28);
      Pair dbias = beta == 0.0f ? output(Shape{c.out}) : random_pair(Shape{c.out}, 29);
      cpu().dense_backward_data(dy.cpu, w.cpu, dx.cpu, beta);
      gpu().dense_backward_data(dy.gpu, w.gpu, dx.gpu, beta);
      cpu().dense_backward_weights(x.cpu, dy.cpu, dw.cpu, dbias.cpu, beta);
      gpu().dense_backward_weights(x.gpu, dy.gpu, dw.gpu, dbias.gpu, beta);
      EXPECT_TRUE(agree(dx, 1e-4, 1e-4)) << "input gradient";
      EXPECT_TRUE(agree(dw, 1e-4, 1e-4)) << "kernel gradient";
      EXPECT_TRUE(agree(dbias, 1e-4, 1e-4)) << "bias gradient";
    }
  }
}

struct PoolCase {
  const char* name;
  PoolKind kind;
  int64_t n, h, w, c, kh, kw, sh, sw;
  Padding padding;
};

const PoolCase kPoolCases[] = {
    {"max 2x2, batch 1, one channel, odd 7x5", PoolKind::max, 1, 7, 5, 1, 2, 2, 2, 2, Padding::valid},
    {"max 2 same on odd 5x5 (pads 0 before, 1 after)", PoolKind::max, 2, 5, 5, 3, 2, 2, 2, 2, Padding::same},
    {"max 3x3 stride 2 same", PoolKind::max, 2, 6, 7, 5, 3, 3, 2, 2, Padding::same},
    {"max overlapping 3x2 stride 1", PoolKind::max, 2, 4, 5, 3, 3, 2, 1, 1, Padding::valid},
    {"avg 3x3 stride 1 same (padding excluded)", PoolKind::average, 2, 5, 4, 3, 3, 3, 1, 1, Padding::same},
    {"avg 2 same on odd 5x3", PoolKind::average, 3, 5, 3, 2, 2, 2, 2, 2, Padding::same},
    {"global average 6x7", PoolKind::average, 2, 6, 7, 9, 6, 7, 6, 7, Padding::valid},
};

void pool_both(Backend& backend, const PoolParams& p, const Tensor& x, Tensor& y, const Tensor& dy, Tensor& dx) {
  const size_t bytes = backend.pool_workspace_bytes(p, x.shape(), y.shape());
  Tensor workspace = bytes > 0 ? Tensor(backend, Shape{static_cast<int64_t>(bytes)}, DType::u8) : Tensor();
  backend.pool_forward(p, x, y, workspace);
  backend.pool_backward(p, x, y, dy, workspace, dx);
}

TEST_F(CudaConvParityTest, PoolingForwardAndBackward) {
  for (const PoolCase& c : kPoolCases) {
    SCOPED_TRACE(c.name);
    PoolParams p;
    p.kind = c.kind;
    p.kernel_h = c.kh, p.kernel_w = c.kw, p.stride_h = c.sh, p.stride_w = c.sw;
    const AxisPadding ph = axis_padding(c.padding, c.h, c.kh, c.sh), pw = axis_padding(c.padding, c.w, c.kw, c.sw);
    p.pad_top = ph.before, p.pad_bottom = ph.after, p.pad_left = pw.before, p.pad_right = pw.after;
    const Shape xs{c.n, c.h, c.w, c.c}, ys{c.n, ph.output, pw.output, c.c};
    Pair x = pair(xs, ladder_values(xs.elements(), 30));
    Pair dy = random_pair(ys, 31);
    Pair y = output(ys), dx = output(xs);
    pool_both(cpu(), p, x.cpu, y.cpu, dy.cpu, dx.cpu);
    pool_both(gpu(), p, x.gpu, y.gpu, dy.gpu, dx.gpu);
    EXPECT_TRUE(agree(y, 1e-6, 1e-6)) << "forward";
    EXPECT_TRUE(agree(dx, 1e-5, 1e-6)) << "backward";
  }
}

TEST_F(CudaConvParityTest, MaxPoolingTiesGoToTheFirstMaximum) {
  // Inputs from {0, 0.5, 1}: most windows hold ties (as after a ReLU).
  PoolParams p;
  const Shape xs{2, 6, 6, 3}, ys{2, 3, 3, 3};
  Values x = random_values(xs.elements(), 32, 0.0f, 3.0f);
  for (float& v : x) v = std::floor(v) * 0.5f;
  Pair xt = pair(xs, x);
  Pair dy = random_pair(ys, 33);
  Pair y = output(ys), dx = output(xs);
  pool_both(cpu(), p, xt.cpu, y.cpu, dy.cpu, dx.cpu);
  pool_both(gpu(), p, xt.gpu, y.gpu, dy.gpu, dx.gpu);
  EXPECT_TRUE(identical(y));
  EXPECT_TRUE(identical(dx));
}

}  // namespace
}  // namespace stride::testing
