// CUDA against CPU for the ops without weights: activations and elementwise
// ops, batch norm (training with and without the fused ReLU, inference,
// frozen-layer gradients, the synchronised-BN steps, running statistics over
// three steps), softmax cross-entropy, metrics, dropout (bit for bit),
// optimizers and clipping over arena segments, copies and events, and labels
// out of range.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda_parity.h"

namespace stride::testing {
namespace {

class CudaOpsParityTest : public CudaParityTest {};

TEST_F(CudaOpsParityTest, ActivationsForwardAndBackward) {
  const ActivationParams kinds[] = {
      {ActivationKind::relu, 0.0f}, {ActivationKind::leaky_relu, 0.2f}, {ActivationKind::elu, 1.0f}};
  for (const ActivationParams& a : kinds) {
    SCOPED_TRACE(static_cast<int>(a.kind));
    const Shape s{3, 5, 7, 2};
    Pair x = pair(s, ladder_values(s.elements(), 40));
    Pair y = output(s), dy = random_pair(s, 41), from_x = output(s), from_y = output(s);
    cpu().activation_forward(a, x.cpu, y.cpu);
    gpu().activation_forward(a, x.gpu, y.gpu);
    EXPECT_TRUE(agree(y, 1e-6, 1e-7)) << "forward";
    cpu().activation_backward(a, x.cpu, y.cpu, dy.cpu, from_x.cpu);
    gpu().activation_backward(a, x.gpu, y.gpu, dy.gpu, from_x.gpu);
    EXPECT_TRUE(agree(from_x, 1e-6, 1e-7)) << "backward from the input";
    Tensor none;
    cpu().activation_backward(a, none, y.cpu, dy.cpu, from_y.cpu);
    gpu().activation_backward(a, none, y.gpu, dy.gpu, from_y.gpu);
    EXPECT_TRUE(agree(from_y, 1e-5, 1e-7)) << "backward from the output (fused)";
  }
}

TEST_F(CudaOpsParityTest, ElementwiseOpsFillsAndCopies) {
  const Shape s{1001};
  Pair a = random_pair(s, 42), b = random_pair(s, 43), out = output(s);
  const ActivationParams elu{ActivationKind::elu, 0.5f};
  cpu().add(a.cpu, b.cpu, out.cpu, &elu);
  gpu().add(a.gpu, b.gpu, out.gpu, &elu);
  EXPECT_TRUE(agree(out, 1e-6, 1e-7)) << "add + elu";
  cpu().add(a.cpu, b.cpu, out.cpu);
  gpu().add(a.gpu, b.gpu, out.gpu);
  EXPECT_TRUE(identical(out)) << "add";
  cpu().multiply(a.cpu, b.cpu, out.cpu);
  gpu().multiply(a.gpu, b.gpu, out.gpu);
  EXPECT_TRUE(identical(out)) << "multiply";
  cpu().scale(a.cpu, -1.5f);
  gpu().scale(a.gpu, -1.5f);
  EXPECT_TRUE(identical(a)) << "scale";
  gpu().copy(a.gpu, out.gpu);
  EXPECT_EQ(gpu_values(out), cpu_values(a)) << "copy";
  Tensor shorter(gpu(), Shape{1000});
  EXPECT_THROW(gpu().copy(a.gpu, shorter), ShapeError);

  Tensor ints(gpu(), Shape{5}, DType::i32), doubles(gpu(), Shape{3}, DType::f64), bytes(gpu(), Shape{6}, DType::u8);
  gpu().fill(ints, 3.0f);
  gpu().fill(doubles, 0.25f);
  gpu().fill(bytes, 7.0f);
  std::vector<int32_t> i(5);
  std::vector<double> d(3);
  std::vector<uint8_t> u(6);
  gpu().copy_to_host(ints, i.data());
  gpu().copy_to_host(doubles, d.data());
  gpu().copy_to_host(bytes, u.data());
  EXPECT_EQ(i, std::vector<int32_t>(5, 3));
  EXPECT_EQ(d, std::vector<double>(3, 0.25));
  EXPECT_EQ(u, std::vector<uint8_t>(6, 7));
}

TEST_F(CudaOpsParityTest, PinnedStagingAsyncCopiesAndEvents) {
  const Shape s{4, 8};
  const Values values = random_values(s.elements(), 44);
  auto* staging = static_cast<float*>(gpu().allocate_host(values.size() * sizeof(float)));
  std::memcpy(staging, values.data(), values.size() * sizeof(float));
  Tensor t(gpu(), s);
  auto copied = gpu().make_event();
  EXPECT_TRUE(copied->done()) << "an event never recorded is done";
  gpu().copy_from_host_async(staging, t);
  copied->record();
  copied->wait();
  EXPECT_TRUE(copied->done());
  EXPECT_EQ(read(gpu(), t), values);
  gpu().deallocate_host(staging);
  EXPECT_NE(gpu().stream(), nullptr);
  EXPECT_NE(gpu().name().find("cuda"), std::string::npos) << gpu().name();
}

struct BnCase {
  const char* name;
  Shape shape;
};
const BnCase kBnCases[] = {
    {"batch 1, one channel", Shape{1, 3, 5, 1}},
    {"image 4x5x3x7", Shape{4, 5, 3, 7}},
    {"features (6, 1, 1, 9)", Shape{6, 1, 1, 9}},
    {"64 channels", Shape{8, 4, 4, 64}},
};

Tensor reserve_for(Backend& backend, const BatchNormParams& p, const Shape& x) {
  const size_t bytes = backend.batchnorm_reserve_bytes(p, x);
  return bytes > 0 ? Tensor(backend, Shape{static_cast<int64_t>(bytes)}, DType::u8) : Tensor();
}

TEST_F(CudaOpsParityTest, BatchNormTrainingWithAndWithoutFusedRelu) {
  for (const BnCase& c : kBnCases)
    for (bool fuse : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (fuse ? ", fused relu" : ""));
      const int64_t ch = c.shape[3];
      BatchNormParams p;
      p.momentum = 0.9f;
      p.fuse_relu = fuse;
      Pair x = random_pair(c.shape, 50, -1.0f, 2.0f), y = output(c.shape);
      Pair gamma = random_pair(Shape{ch}, 51, 0.5f, 1.5f), beta = random_pair(Shape{ch}, 52, -0.5f, 0.5f);
      Pair mean = output(Shape{ch}), var = output(Shape{ch});
      Pair running_mean = random_pair(Shape{ch}, 53, -0.5f, 0.5f), running_var = random_pair(Shape{ch}, 54, 0.5f, 2.0f);
      Tensor reserve_cpu = reserve_for(cpu(), p, c.shape), reserve_gpu = reserve_for(gpu(), p, c.shape);
      cpu().batchnorm_forward_training(p, x.cpu, gamma.cpu, beta.cpu, y.cpu, mean.cpu, var.cpu, running_mean.cpu,
                                       running_var.cpu, reserve_cpu);
      gpu().batchnorm_forward_training(p, x.gpu, gamma.gpu, beta.gpu, y.gpu, mean.gpu, var.gpu, running_mean.gpu,
                                       running_var.gpu, reserve_gpu);
      EXPECT_TRUE(agree(y, 1e-4, 1e-5)) << "output";
      EXPECT_TRUE(agree(mean, 1e-5, 1e-6)) << "saved batch mean";
      EXPECT_TRUE(agree(running_mean, 1e-5, 1e-6)) << "running mean";
      EXPECT_TRUE(agree(running_var, 1e-5, 1e-6)) << "running variance";

      Pair dy = random_pair(c.shape, 55), dx = output(c.shape), dgamma = output(Shape{ch}), dbeta = output(Shape{ch});
      cpu().batchnorm_backward(p, x.cpu, dy.cpu, gamma.cpu, mean.cpu, var.cpu, reserve_cpu, dx.cpu, dgamma.cpu,
                               dbeta.cpu);
      gpu().batchnorm_backward(p, x.gpu, dy.gpu, gamma.gpu, mean.gpu, var.gpu, reserve_gpu, dx.gpu, dgamma.gpu,
                               dbeta.gpu);
      EXPECT_TRUE(agree(dx, 1e-3, 1e-4)) << "input gradient";
      EXPECT_TRUE(agree(dgamma, 1e-4, 1e-5)) << "gamma gradient";
      EXPECT_TRUE(agree(dbeta, 1e-4, 1e-5)) << "beta gradient";
    }
}

TEST_F(CudaOpsParityTest, BatchNormRunningStatisticsAfterThreeSteps) {
  const Shape s{4, 6, 5, 8};
  BatchNormParams p;  // Keras' momentum 0.99
  Pair gamma = random_pair(Shape{8}, 56, 0.5f, 1.5f), beta = random_pair(Shape{8}, 57);
  Pair running_mean = pair(Shape{8}, Values(8, 0.0f)), running_var = pair(Shape{8}, Values(8, 1.0f));
  Pair mean = output(Shape{8}), var = output(Shape{8}), y = output(s);
  Tensor reserve_cpu = reserve_for(cpu(), p, s), reserve_gpu = reserve_for(gpu(), p, s);
  for (uint64_t step = 0; step < 3; ++step) {
    Pair x = random_pair(s, 58 + step, 1.0f, 4.0f);  // off-centre, so the statistics move
    cpu().batchnorm_forward_training(p, x.cpu, gamma.cpu, beta.cpu, y.cpu, mean.cpu, var.cpu, running_mean.cpu,
                                     running_var.cpu, reserve_cpu);
    gpu().batchnorm_forward_training(p, x.gpu, gamma.gpu, beta.gpu, y.gpu, mean.gpu, var.gpu, running_mean.gpu,
                                     running_var.gpu, reserve_gpu);
  }
  EXPECT_TRUE(agree(running_mean, 1e-5, 1e-6));
  EXPECT_TRUE(agree(running_var, 1e-5, 1e-6));
}

TEST_F(CudaOpsParityTest, BatchNormInferenceAndFrozenGradients) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    const int64_t ch = c.shape[3];
    Pair x = random_pair(c.shape, 60), dy = random_pair(c.shape, 61);
    Pair gamma = random_pair(Shape{ch}, 62, 0.5f, 1.5f), beta = random_pair(Shape{ch}, 63);
    Pair mean = random_pair(Shape{ch}, 64), var = random_pair(Shape{ch}, 65, 0.5f, 2.0f);
    for (bool fuse : {false, true}) {
      BatchNormParams p;
      p.fuse_relu = fuse;
      Pair y = output(c.shape);
      cpu().batchnorm_forward_inference(p, x.cpu, gamma.cpu, beta.cpu, mean.cpu, var.cpu, y.cpu);
      gpu().batchnorm_forward_inference(p, x.gpu, gamma.gpu, beta.gpu, mean.gpu, var.gpu, y.gpu);
      EXPECT_TRUE(agree(y, 1e-5, 1e-6)) << (fuse ? "inference, fused relu" : "inference");
    }
    BatchNormParams p;
    Pair dx = output(c.shape), dgamma = output(Shape{ch}), dbeta = output(Shape{ch});
    cpu().batchnorm_backward_inference(p, dy.cpu, gamma.cpu, var.cpu, dx.cpu);
    gpu().batchnorm_backward_inference(p, dy.gpu, gamma.gpu, var.gpu, dx.gpu);
    EXPECT_TRUE(agree(dx, 1e-6, 1e-7)) << "frozen input gradient";
    cpu().batchnorm_backward_inference_parameters(p, x.cpu, dy.cpu, mean.cpu, var.cpu, dgamma.cpu, dbeta.cpu);
    gpu().batchnorm_backward_inference_parameters(p, x.gpu, dy.gpu, mean.gpu, var.gpu, dgamma.gpu, dbeta.gpu);
    EXPECT_TRUE(agree(dgamma, 1e-5, 1e-6)) << "frozen gamma gradient";
    EXPECT_TRUE(agree(dbeta, 1e-5, 1e-6)) << "frozen beta gradient";
  }
}

TEST_F(CudaOpsParityTest, SynchronisedBatchNormSteps) {
  const Shape s{3, 4, 5, 6};
  const int64_t ch = 6;
  BatchNormParams p;
  p.momentum = 0.9f;
  Pair x = random_pair(s, 70, 2.5f, 3.5f), dy = random_pair(s, 71);
  Pair gamma = random_pair(Shape{ch}, 72, 0.5f, 1.5f);
  Pair running_mean = random_pair(Shape{ch}, 73), running_var = random_pair(Shape{ch}, 74, 0.5f, 2.0f);
  Pair sums = output(Shape{2 * ch + 1}), mean = output(Shape{ch}), var = output(Shape{ch});
  cpu().batchnorm_partial_sums(x.cpu, running_mean.cpu, sums.cpu);
  gpu().batchnorm_partial_sums(x.gpu, running_mean.gpu, sums.gpu);
  EXPECT_TRUE(agree(sums, 1e-6, 1e-5)) << "forward sums around the running mean";
  cpu().batchnorm_mean_from_sums(sums.cpu, running_mean.cpu, mean.cpu);
  gpu().batchnorm_mean_from_sums(sums.gpu, running_mean.gpu, mean.gpu);
  EXPECT_TRUE(agree(mean, 1e-6, 1e-6)) << "mean";
  cpu().batchnorm_partial_sums(x.cpu, mean.cpu, sums.cpu);
  gpu().batchnorm_partial_sums(x.gpu, mean.gpu, sums.gpu);
  // shift aliases mean, as BatchNorm calls it.
  cpu().batchnorm_statistics_from_sums(p, sums.cpu, mean.cpu, mean.cpu, var.cpu, running_mean.cpu, running_var.cpu);
  gpu().batchnorm_statistics_from_sums(p, sums.gpu, mean.gpu, mean.gpu, var.gpu, running_mean.gpu, running_var.gpu);
  EXPECT_TRUE(agree(mean, 1e-6, 1e-6)) << "statistics: mean";
  EXPECT_TRUE(agree(var, 1e-5, 1e-6)) << "statistics: variance";
  EXPECT_TRUE(agree(running_mean, 1e-6, 1e-6)) << "statistics: running mean";
  EXPECT_TRUE(agree(running_var, 1e-6, 1e-6)) << "statistics: running variance";
  Pair backward_sums = output(Shape{2 * ch + 1}), dx = output(s);
  cpu().batchnorm_backward_partial_sums(p, x.cpu, dy.cpu, mean.cpu, var.cpu, backward_sums.cpu);
  gpu().batchnorm_backward_partial_sums(p, x.gpu, dy.gpu, mean.gpu, var.gpu, backward_sums.gpu);
  EXPECT_TRUE(agree(backward_sums, 1e-5, 1e-5)) << "backward sums";
  cpu().batchnorm_backward_from_sums(p, x.cpu, dy.cpu, gamma.cpu, mean.cpu, var.cpu, backward_sums.cpu, dx.cpu);
  gpu().batchnorm_backward_from_sums(p, x.gpu, dy.gpu, gamma.gpu, mean.gpu, var.gpu, backward_sums.gpu, dx.gpu);
  EXPECT_TRUE(agree(dx, 1e-5, 1e-6)) << "input gradient from the sums";
}

TEST_F(CudaOpsParityTest, SoftmaxCrossEntropyAndMetrics) {
  const int64_t n = 5, k = 7;
  Values logits = random_values(n * k, 80, -3.0f, 3.0f);
  logits[3] = 1000.0f;  // a saturated row stays finite
  Pair z = pair(Shape{n, k}, logits);
  Pair y = labels({3, 0, 6, 2, 2});
  Pair p = output(Shape{n, k}), losses = output(Shape{n}), dz = output(Shape{n, k});
  cpu().softmax_cross_entropy(z.cpu, y.cpu, 0.1f, 1.0f / n, p.cpu, losses.cpu, dz.cpu);
  gpu().softmax_cross_entropy(z.gpu, y.gpu, 0.1f, 1.0f / n, p.gpu, losses.gpu, dz.gpu);
  EXPECT_TRUE(agree(p, 1e-5, 1e-7)) << "probabilities";
  EXPECT_TRUE(agree(losses, 1e-5, 1e-6)) << "losses";
  EXPECT_TRUE(agree(dz, 1e-5, 1e-7)) << "logit gradients";

  Pair totals{Tensor(cpu(), Shape{2}, DType::f64), Tensor(gpu(), Shape{2}, DType::f64)};
  Pair confusion{Tensor(cpu(), Shape{k, k}, DType::i32), Tensor(gpu(), Shape{k, k}, DType::i32)};
  auto accumulate_twice = [](Backend& b, const Tensor& scores, const Tensor& truth, const Tensor& loss, Tensor& sums,
                             Tensor& counts) {
    b.fill(sums, 0.0f);
    b.fill(counts, 0.0f);
    for (int batch = 0; batch < 2; ++batch) b.accumulate_classification(scores, truth, loss, sums, counts);
  };
  accumulate_twice(cpu(), z.cpu, y.cpu, losses.cpu, totals.cpu, confusion.cpu);
  accumulate_twice(gpu(), z.gpu, y.gpu, losses.gpu, totals.gpu, confusion.gpu);
  double t_cpu[2], t_gpu[2];
  cpu().copy_to_host(totals.cpu, t_cpu);
  gpu().copy_to_host(totals.gpu, t_gpu);
  EXPECT_NEAR(t_gpu[0], t_cpu[0], 1e-5 * std::abs(t_cpu[0])) << "loss sum";
  EXPECT_EQ(t_gpu[1], t_cpu[1]) << "correct count";
  std::vector<int32_t> c_cpu(k * k), c_gpu(k * k);
  cpu().copy_to_host(confusion.cpu, c_cpu.data());
  gpu().copy_to_host(confusion.gpu, c_gpu.data());
  EXPECT_EQ(c_gpu, c_cpu) << "confusion matrix";

  Pair ties = pair(Shape{3, 4}, {0, 5, 1, 5, -1, -2, -3, -0.5f, 2, 2, 2, 2});
  Tensor arg(gpu(), Shape{3}, DType::i32);
  gpu().argmax_rows(ties.gpu, arg);
  std::vector<int32_t> got(3);
  gpu().copy_to_host(arg, got.data());
  EXPECT_EQ(got, (std::vector<int32_t>{1, 3, 0})) << "ties go to the first";
}

TEST_F(CudaOpsParityTest, LabelsOutOfRangeAreADataError) {
  Pair z = random_pair(Shape{2, 3}, 81);
  Pair p = output(Shape{2, 3}), losses = output(Shape{2}), dz = output(Shape{2, 3});
  Tensor bad = make_labels(gpu(), {0, 3});
  EXPECT_THROW(gpu().softmax_cross_entropy(z.gpu, bad, 0.0f, 1.0f, p.gpu, losses.gpu, dz.gpu), DataError)
      << "a label buffer's first use is checked at once";
  // A buffer in steady use is checked on the device; the error comes at the next wait.
  Tensor reused = make_labels(gpu(), {0, 1});
  gpu().softmax_cross_entropy(z.gpu, reused, 0.0f, 1.0f, p.gpu, losses.gpu, dz.gpu);
  const std::vector<int32_t> invalid = {-1, 1};
  gpu().copy_from_host(invalid.data(), reused);
  EXPECT_THROW(
      {
        gpu().softmax_cross_entropy(z.gpu, reused, 0.0f, 1.0f, p.gpu, losses.gpu, dz.gpu);
        gpu().synchronize();
      },
      DataError);
  gpu().synchronize();  // reported once: the backend is usable again
}

TEST_F(CudaOpsParityTest, DropoutMasksAreBitIdentical) {
  const Shape s{7, 143};  // 1001 elements
  for (uint64_t offset : {uint64_t{0}, uint64_t{6}, uint64_t{1} << 33}) {
    SCOPED_TRACE(offset);
    Pair x = random_pair(s, 82), y = output(s), mask = output(s);
    cpu().dropout_forward(0.3f, 0xfeedull, offset, x.cpu, y.cpu, mask.cpu);
    gpu().dropout_forward(0.3f, 0xfeedull, offset, x.gpu, y.gpu, mask.gpu);
    EXPECT_TRUE(identical(mask));
    EXPECT_TRUE(identical(y));
  }
}

// Segments with gaps, both decay kinds, and more than one kernel launch's worth.
std::vector<ArenaSegment> arena_segments(int64_t count, int64_t& size) {
  std::vector<ArenaSegment> segments;
  int64_t offset = 3;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t length = 5 + (i * 37) % 300;
    segments.push_back({offset, length, i % 2 == 0});
    offset += length + 16;
  }
  size = offset + 7;
  return segments;
}

TEST_F(CudaOpsParityTest, OptimizersUpdateEverySegment) {
  for (int64_t count : {int64_t{3}, int64_t{100}}) {
    SCOPED_TRACE(count);
    int64_t size = 0;
    const auto segments = arena_segments(count, size);
    const Shape s{size};
    for (int variant = 0; variant < 4; ++variant) {
      SCOPED_TRACE(variant);
      Pair w = random_pair(s, 90), m = pair(s, Values(size, 0.0f)), v = pair(s, Values(size, 0.0f));
      for (int64_t step = 1; step <= 3; ++step) {
        Pair g = random_pair(s, 91 + static_cast<uint64_t>(step));
        if (variant < 2) {
          AdamParams p;
          p.lr = 1e-2f;
          p.weight_decay = 0.1f;
          p.decoupled = variant == 1;
          p.step = step;
          cpu().adam_update(p, segments, w.cpu, g.cpu, m.cpu, v.cpu);
          gpu().adam_update(p, segments, w.gpu, g.gpu, m.gpu, v.gpu);
        } else {
          SgdParams p{0.05f, 0.9f, 0.01f, variant == 3};
          cpu().sgd_update(p, segments, w.cpu, g.cpu, m.cpu);
          gpu().sgd_update(p, segments, w.gpu, g.gpu, m.gpu);
        }
      }
      EXPECT_TRUE(agree(w, 1e-5, 1e-6)) << "weights";
      EXPECT_TRUE(agree(m, 1e-5, 1e-6)) << "first slot";
      if (variant < 2) {
        EXPECT_TRUE(agree(v, 1e-5, 1e-7)) << "second slot";
      }
    }
  }
}

TEST_F(CudaOpsParityTest, ClippingKeepsTheNormOnTheDevice) {
  for (int64_t count : {int64_t{2}, int64_t{100}}) {
    SCOPED_TRACE(count);
    int64_t size = 0;
    const auto segments = arena_segments(count, size);
    Pair g = random_pair(Shape{size}, 95), norm = output(Shape{1});
    const Values before = cpu_values(g);
    cpu().clip_by_global_norm(segments, g.cpu, 0.0f, norm.cpu);
    gpu().clip_by_global_norm(segments, g.gpu, 0.0f, norm.gpu);
    EXPECT_TRUE(agree(norm, 1e-6, 0.0)) << "measured norm";
    EXPECT_EQ(gpu_values(g), before) << "no limit: g unchanged";
    const float limit = cpu_values(norm)[0] / 3.0f;
    cpu().clip_by_global_norm(segments, g.cpu, limit, norm.cpu);
    gpu().clip_by_global_norm(segments, g.gpu, limit, norm.gpu);
    EXPECT_TRUE(agree(g, 1e-6, 1e-7)) << "clipped";
    const Values clipped = gpu_values(g);
    EXPECT_EQ(clipped[0], before[0]) << "outside every segment: untouched";
  }
}

}  // namespace
}  // namespace stride::testing
