// Whole training steps on the CUDA backend: the seed CNN's loss over 20 Adam
// steps stays within 1e-4 of the CPU's in fp32; a step after the first
// allocates nothing and builds nothing (with the algorithm search and
// without); two deterministic runs are bit-identical; and the reduced
// precisions stay within their stated tolerances (cuda_parity.h) of fp32.
#include <gtest/gtest.h>

#include "cuda_parity.h"
#include "stride/core/layer.h"
#include "stride/core/layers.h"
#include "stride/core/loss.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"
#include "stride/core/spec.h"

namespace stride::testing {
namespace {

constexpr int64_t kClasses = 10;
const Shape kImage{28, 28, 1};

struct TrainingRun {
  std::vector<double> losses;   // mean loss of each step's batch
  Values parameters;            // the arena after the last step
  std::vector<Values> buffers;  // batch-norm running statistics
  BackendCounters after_first, after_second;
};

// `steps` Adam steps of `spec` over four fixed batches (the same values on every backend).
TrainingRun train(Backend& b, const std::string& spec, int64_t batch, int steps) {
  Model model = Model::from_spec(spec, kImage);
  model.init(b, 17);
  model.reserve(batch);
  Optimizer optimizer(OptimizerConfig{}, model);
  SoftmaxCrossEntropy loss(0.1f);
  loss.reserve(b, batch, kClasses);
  Tensor totals(b, Shape{2}, DType::f64), no_confusion;
  b.fill(totals, 0.0f);
  std::vector<Tensor> images, labels;
  for (uint64_t i = 0; i < 4; ++i) {
    images.push_back(make_tensor(b, kImage.with_batch(batch), random_values(batch * kImage.elements(), 300 + i, 0, 1)));
    std::vector<int32_t> y(static_cast<size_t>(batch));
    for (size_t j = 0; j < y.size(); ++j) y[j] = static_cast<int32_t>((j * 7 + i * 3) % kClasses);
    labels.push_back(make_labels(b, y));
  }
  TrainingRun run;
  for (int step = 0; step < steps; ++step) {
    const size_t i = static_cast<size_t>(step) % images.size();
    Context ctx{b, Mode::training, /*seed=*/5, static_cast<uint64_t>(step)};
    const Tensor& logits = model.forward(ctx, images[i]);
    loss.compute(b, logits, labels[i], 1.0f / static_cast<float>(batch));
    model.backward(ctx, loss.dlogits());
    optimizer.step(1e-3f);
    b.accumulate_classification(logits, labels[i], loss.losses(), totals, no_confusion);
    if (step == 0) run.after_first = b.counters();
    if (step == 1) run.after_second = b.counters();
    double sum = 0;
    for (float l : read(b, loss.losses())) sum += l;
    run.losses.push_back(sum / static_cast<double>(batch));
  }
  run.parameters = read(b, model.arena().values);
  for (size_t i = 0; i < model.size(); ++i)
    for (Buffer* buffer : model.layer(i).buffers()) run.buffers.push_back(read(b, buffer->value));
  return run;
}

std::unique_ptr<Backend> cuda_backend(Precision precision, bool deterministic) {
  BackendOptions options;
  options.precision = precision;
  options.deterministic = deterministic;
  return make_cuda_backend(options);
}

const std::string kSeedCnn = arch_spec("seed_cnn", kClasses);
// Batch norm (fused ReLU), dropout, stride-2 asymmetric padding, residual blocks and global pooling.
const std::string kEveryLayer =
    "conv(8,3,padding=same,bias=false) bn relu maxpool(2) dropout(0.25) conv(16,3,stride=2,padding=same) relu "
    "residual(16) residual(32,stride=2) avgpool(2,padding=same) flatten dense(32) bn relu dropout(0.5) dense(10)";

class CudaTrainingTest : public CudaParityTest {};

TEST_F(CudaTrainingTest, SeedCnnLossTrajectoryMatchesTheCpu) {
  const TrainingRun on_cpu = train(cpu(), kSeedCnn, 16, 20);
  const TrainingRun on_gpu = train(gpu(), kSeedCnn, 16, 20);
  ASSERT_EQ(on_gpu.losses.size(), on_cpu.losses.size());
  for (size_t step = 0; step < on_cpu.losses.size(); ++step)
    EXPECT_NEAR(on_gpu.losses[step], on_cpu.losses[step], 1e-4) << "step " << step;
  EXPECT_LT(on_gpu.losses.back(), on_gpu.losses.front()) << "the loss went down";
}

TEST_F(CudaTrainingTest, EveryLayerKindTracksTheCpu) {
  const TrainingRun on_cpu = train(cpu(), kEveryLayer, 8, 10);
  const TrainingRun on_gpu = train(gpu(), kEveryLayer, 8, 10);
  for (size_t step = 0; step < on_cpu.losses.size(); ++step)
    EXPECT_NEAR(on_gpu.losses[step], on_cpu.losses[step], 1e-3) << "step " << step;
  ASSERT_EQ(on_gpu.buffers.size(), on_cpu.buffers.size());
  for (size_t i = 0; i < on_cpu.buffers.size(); ++i)
    EXPECT_TRUE(all_close(on_gpu.buffers[i], on_cpu.buffers[i], 1e-3, 1e-4)) << "running statistics " << i;
}

TEST_F(CudaTrainingTest, SecondStepAllocatesAndBuildsNothing) {
  for (bool deterministic : {true, false}) {
    SCOPED_TRACE(deterministic ? "heuristic algorithms" : "searched algorithms");
    auto backend = cuda_backend(Precision::fp32, deterministic);
    const TrainingRun run = train(*backend, kEveryLayer, 8, 3);
    EXPECT_EQ(run.after_second.allocations, run.after_first.allocations) << "allocations in the second step";
    EXPECT_EQ(run.after_second.plans_built, run.after_first.plans_built) << "plans built in the second step";
    EXPECT_GT(run.after_first.plans_built, 0u) << "the first step built its plans";
  }
}

TEST_F(CudaTrainingTest, DeterministicRunsAreBitIdentical) {
  auto first = cuda_backend(Precision::fp32, true);
  auto second = cuda_backend(Precision::fp32, true);
  const TrainingRun a = train(*first, kEveryLayer, 8, 5);
  const TrainingRun b = train(*second, kEveryLayer, 8, 5);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_TRUE(a.parameters == b.parameters) << "parameters differ after 5 steps";
  EXPECT_TRUE(a.buffers == b.buffers) << "running statistics differ after 5 steps";
}

// A convolution and a dense layer in reduced precision against the CPU's fp32.
void expect_reduced_precision_close(Backend& cpu, Backend& reduced, double tolerance) {
  ConvParams p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  p.pad_bottom = p.pad_right = 1;  // "same" on an even input
  const Shape xs{4, 10, 10, 16}, ws{3, 3, 16, 32}, ys{4, 5, 5, 32};
  const Values x = random_values(xs.elements(), 400), w = random_values(ws.elements(), 401, -0.3f, 0.3f);
  Tensor xc = make_tensor(cpu, xs, x), wc = make_tensor(cpu, ws, w), yc(cpu, ys);
  Tensor xg = make_tensor(reduced, xs, x), wg = make_tensor(reduced, ws, w), yg(reduced, ys);
  cpu.conv_forward(p, xc, wc, yc);
  reduced.conv_forward(p, xg, wg, yg);
  Values expected = read(cpu, yc);
  double scale = 0;
  for (float v : expected) scale = std::max(scale, std::abs(static_cast<double>(v)));
  EXPECT_TRUE(all_close(read(reduced, yg), expected, 0.0, tolerance * scale)) << "convolution";

  const Values dx = random_values(32 * 200, 402), dw = random_values(200 * 64, 403, -0.3f, 0.3f);
  Tensor ac = make_tensor(cpu, Shape{32, 200}, dx), bc = make_tensor(cpu, Shape{200, 64}, dw), oc(cpu, Shape{32, 64});
  Tensor ag = make_tensor(reduced, Shape{32, 200}, dx), bg = make_tensor(reduced, Shape{200, 64}, dw),
         og(reduced, Shape{32, 64});
  cpu.dense_forward(ac, bc, oc);
  reduced.dense_forward(ag, bg, og);
  expected = read(cpu, oc);
  scale = 0;
  for (float v : expected) scale = std::max(scale, std::abs(static_cast<double>(v)));
  EXPECT_TRUE(all_close(read(reduced, og), expected, 0.0, tolerance * scale)) << "dense";
}

TEST_F(CudaTrainingTest, Tf32StaysWithinItsTolerance) {
  auto tf32 = cuda_backend(Precision::tf32, false);
  expect_reduced_precision_close(cpu(), *tf32, kTf32Tolerance);
  const TrainingRun reference = train(cpu(), kSeedCnn, 16, 10);
  const TrainingRun run = train(*tf32, kSeedCnn, 16, 10);
  for (size_t step = 0; step < run.losses.size(); ++step)
    EXPECT_NEAR(run.losses[step], reference.losses[step], 1e-2 * reference.losses[step]) << "step " << step;
}

TEST_F(CudaTrainingTest, Bf16StaysWithinItsTolerance) {
  auto bf16 = cuda_backend(Precision::bf16, false);
  expect_reduced_precision_close(cpu(), *bf16, kBf16Tolerance);
  const TrainingRun reference = train(cpu(), kSeedCnn, 16, 10);
  const TrainingRun run = train(*bf16, kSeedCnn, 16, 10);
  for (size_t step = 0; step < run.losses.size(); ++step)
    EXPECT_NEAR(run.losses[step], reference.losses[step], 5e-2 * reference.losses[step]) << "step " << step;
}

}  // namespace
}  // namespace stride::testing
