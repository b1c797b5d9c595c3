// The seed CNN's first Adam steps against PyTorch's from the same initial
// weights and batches (tests/core/torch_reference.py). Skipped where the system
// Python has no torch.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stride/core/loss.h"
#include "stride/core/optimizer.h"
#include "stride/core/spec.h"
#include "temp_dir.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

bool torch_importable() {
  return std::system(fmt::format("{} -c 'import torch, numpy' > /dev/null 2>&1", kPython).c_str()) == 0;
}

template <typename T>
void append_binary(const std::filesystem::path& path, const std::vector<T>& values) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
}

class TorchReferenceTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(TorchReferenceTest);

TEST_P(TorchReferenceTest, SeedCnnFollowsPyTorchForFiveAdamSteps) {
  if (!torch_importable()) GTEST_SKIP() << kPython << " cannot import torch and numpy";
  const int steps = 5, batch = 8, classes = 10;
  const float lr = 1e-3f, epsilon = 1e-7f;
  const Shape image{28, 28, 1};
  TempDir dir;

  Model model = Model::from_spec(arch_spec("seed_cnn", classes), image);
  model.init(backend(), 21);
  nlohmann::json shapes = nlohmann::json::array();
  for (Parameter* p : model.parameters()) {
    std::vector<int64_t> shape;
    for (int i = 0; i < p->value.shape().rank(); ++i) shape.push_back(p->value.shape()[i]);
    shapes.push_back(shape);
    append_binary(dir / "weights.bin", read(backend(), p->value));
  }
  std::vector<Values> images;
  std::vector<std::vector<int32_t>> labels;
  for (int s = 0; s < steps; ++s) {
    images.push_back(random_values(batch * image.elements(), 500 + static_cast<uint64_t>(s), 0.0f, 1.0f));
    std::vector<int32_t> y;
    for (int i = 0; i < batch; ++i) y.push_back((s * 3 + i * 7) % classes);
    labels.push_back(y);
    append_binary(dir / "images.bin", images.back());
    append_binary(dir / "labels.bin", y);
  }
  const nlohmann::json meta = {{"shapes", shapes}, {"batch", batch}, {"image", {28, 28, 1}},
                               {"steps", steps},   {"lr", lr},       {"epsilon", epsilon}};
  std::ofstream(dir / "meta.json") << meta.dump();

  const std::string command = fmt::format("{} {} {} 2>&1", kPython, STRIDE_TORCH_REFERENCE, (dir.path()).string());
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  OptimizerConfig config;
  config.kind = "adam";
  config.epsilon = epsilon;
  Optimizer optimizer(config, model);
  SoftmaxCrossEntropy loss;
  std::vector<double> ours;
  for (int s = 0; s < steps; ++s) {
    Context ctx{backend(), Mode::training, 1, static_cast<uint64_t>(s)};
    Tensor x = make_tensor(backend(), image.with_batch(batch), images[static_cast<size_t>(s)]);
    Tensor y = make_labels(backend(), labels[static_cast<size_t>(s)]);
    loss.compute(backend(), model.forward(ctx, x), y, 1.0f / batch);
    double sum = 0;
    for (float l : read(backend(), loss.losses())) sum += l;
    ours.push_back(sum / batch);
    model.backward(ctx, loss.dlogits());
    optimizer.step(lr);
  }

  std::ifstream in(dir / "losses.json");
  const std::vector<double> theirs = nlohmann::json::parse(in).get<std::vector<double>>();
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t s = 0; s < ours.size(); ++s) EXPECT_NEAR(ours[s], theirs[s], 1e-4 * std::abs(theirs[s])) << "step " << s;
  // The losses must move, or agreeing on them would prove little.
  EXPECT_NE(ours.front(), ours.back());

  std::ifstream final_file(dir / "final_weights.bin", std::ios::binary);
  for (Parameter* p : model.parameters()) {
    Values expected(static_cast<size_t>(p->value.elements()));
    final_file.read(reinterpret_cast<char*>(expected.data()),
                    static_cast<std::streamsize>(expected.size() * sizeof(float)));
    ASSERT_TRUE(final_file) << "final_weights.bin is short at " << p->name;
    // Five steps of at most lr each: agree to a small fraction of one step.
    const Values got = read(backend(), p->value);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(got[i]) - expected[i]));
    EXPECT_LT(worst, 0.05 * lr) << p->name;
  }
}

}  // namespace
}  // namespace stride::testing
