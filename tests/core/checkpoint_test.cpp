// Checkpoints: a save/load round trip restores weights, BN statistics,
// optimizer slots and training state bit for bit; writes are atomic; bad files
// and mismatched models give a CheckpointError naming the file or the layer.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "stride/common/h5.h"
#include "stride/core/checkpoint.h"
#include "stride/core/loss.h"
#include "temp_dir.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

namespace fs = std::filesystem;

const char* kSpec = "conv(4,3,bias=false) bn relu residual(6,stride=2) gap dense(3)";
const Shape kInput{6, 6, 2};

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class CheckpointTest : public BackendTest {
 protected:
  // A few Adam steps so weights, BN statistics and moments are all non-trivial.
  void train(Model& model, Optimizer& optimizer, int steps) {
    SoftmaxCrossEntropy loss;
    for (int s = 0; s < steps; ++s) {
      Context ctx{backend(), Mode::training, 1, static_cast<uint64_t>(optimizer.steps())};
      Tensor x = make_tensor(backend(), kInput.with_batch(4), random_values(4 * kInput.elements(), 200 + s));
      Tensor y = make_labels(backend(), {0, 1, 2, 1});
      loss.compute(backend(), model.forward(ctx, x), y, 0.25f);
      model.backward(ctx, loss.dlogits());
      optimizer.step(0.01f);
    }
  }

  // Every saved tensor's bytes, in state and slot order.
  std::vector<std::vector<float>> snapshot(Model& model, Optimizer* optimizer) {
    std::vector<std::vector<float>> out;
    for (const StateEntry& e : model.state()) out.push_back(read(backend(), *e.tensor));
    if (optimizer)
      for (const SlotEntry& s : optimizer->slots()) out.push_back(read(backend(), *s.tensor));
    return out;
  }

  static bool bitwise_equal(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
        return false;
    return true;
  }

  ModelConfig model_config() {
    ModelConfig c;
    c.spec = kSpec;
    c.input = kInput;
    c.classes = 3;
    c.class_names = {"a", "b", "c"};
    c.mean = {0.5, 0.25};
    c.std = {0.2, 0.1};
    c.source = "synthetic";
    return c;
  }

  TempDir dir_;
};
STRIDE_INSTANTIATE_BACKENDS(CheckpointTest);

TEST_P(CheckpointTest, RoundTripIsBitwise) {
  Model model = Model::from_spec(kSpec, kInput);
  model.init(backend(), 1);
  Optimizer optimizer(OptimizerConfig{}, model);
  train(model, optimizer, 3);
  TrainingState state;
  state.epoch = 4;
  state.global_step = 3;
  state.callbacks = {{"early_stopping", {{"wait", 2}, {"best", 0.125}}}};
  state.extra = {{"trial", 17}};
  const std::string path = (dir_ / "run" / "ckpt.h5").string();  // parent created on save
  save_checkpoint(path, model_config(), model, &optimizer, &state);
  EXPECT_EQ(files_in(dir_ / "run"), std::vector<std::string>{"ckpt.h5"});  // no temporary left

  const CheckpointInfo info = read_checkpoint_info(path);
  EXPECT_EQ(info.model.spec, kSpec);
  EXPECT_EQ(info.model.input, kInput);
  EXPECT_EQ(info.model.class_names, model_config().class_names);
  EXPECT_EQ(info.model.mean, model_config().mean);
  EXPECT_EQ(info.model.source, "synthetic");
  ASSERT_TRUE(info.state.has_value());
  EXPECT_EQ(info.state->epoch, 4);
  EXPECT_EQ(info.state->global_step, 3);
  EXPECT_EQ(info.state->callbacks, state.callbacks);
  EXPECT_EQ(info.state->extra, state.extra);
  EXPECT_TRUE(info.has_optimizer);
  EXPECT_FALSE(info.has_best);

  Model restored = Model::from_spec(info.model.spec, info.model.input);
  restored.init(backend(), 99);
  Optimizer restored_optimizer(OptimizerConfig{}, restored);
  EXPECT_FALSE(bitwise_equal(snapshot(restored, &restored_optimizer), snapshot(model, &optimizer)));
  load_model_state(path, restored);
  load_optimizer_state(path, restored_optimizer);
  EXPECT_TRUE(bitwise_equal(snapshot(restored, &restored_optimizer), snapshot(model, &optimizer)));
  EXPECT_EQ(restored_optimizer.steps(), 3);

  // Training on from both gives the same next step, bit for bit.
  train(model, optimizer, 1);
  train(restored, restored_optimizer, 1);
  EXPECT_TRUE(bitwise_equal(snapshot(restored, &restored_optimizer), snapshot(model, &optimizer)));
}

TEST_P(CheckpointTest, BestWeightsAndPartialLoads) {
  Model model = Model::from_spec(kSpec, kInput);
  model.init(backend(), 1);
  const auto best_values = snapshot(model, nullptr);
  std::vector<StateEntry> best = model.state();
  const std::string path = (dir_ / "best.h5").string();
  save_checkpoint(path, model_config(), model, nullptr, nullptr, &best);
  EXPECT_TRUE(read_checkpoint_info(path).has_best);
  EXPECT_FALSE(read_checkpoint_info(path).has_optimizer);
  EXPECT_FALSE(read_checkpoint_info(path).state.has_value());

  Model other = Model::from_spec(kSpec, kInput);
  other.init(backend(), 5);
  std::vector<StateEntry> into = other.state();
  load_best_state(path, backend(), into);
  EXPECT_TRUE(bitwise_equal(snapshot(other, nullptr), best_values));

  // Only the first layer: the rest keep their own weights.
  Model partial = Model::from_spec(kSpec, kInput);
  partial.init(backend(), 6);
  const Values dense_before = read(backend(), partial.layer_parameters(5)[0]->value);
  load_model_state(path, partial, 1);
  EXPECT_EQ(read(backend(), partial.layer_parameters(0)[0]->value),
            read(backend(), model.layer_parameters(0)[0]->value));
  EXPECT_EQ(read(backend(), partial.layer_parameters(5)[0]->value), dense_before);

  Optimizer optimizer(OptimizerConfig{}, partial);
  EXPECT_THROW(load_optimizer_state(path, optimizer), CheckpointError);
}

TEST_P(CheckpointTest, FailedWriteLeavesTheOldCheckpointIntact) {
  Model model = Model::from_spec(kSpec, kInput);
  model.init(backend(), 1);
  Optimizer optimizer(OptimizerConfig{}, model);
  const std::string path = (dir_ / "ckpt.h5").string();
  save_checkpoint(path, model_config(), model, &optimizer, nullptr);
  const auto saved = snapshot(model, nullptr);

  train(model, optimizer, 1);
  // The same name twice under /best makes the second write fail half way.
  std::vector<StateEntry> broken = model.state();
  broken.push_back(broken.front());
  EXPECT_ANY_THROW(save_checkpoint(path, model_config(), model, &optimizer, nullptr, &broken));
  EXPECT_EQ(files_in(dir_.path()), std::vector<std::string>{"ckpt.h5"});

  Model restored = Model::from_spec(kSpec, kInput);
  restored.init(backend(), 2);
  load_model_state(path, restored);
  EXPECT_TRUE(bitwise_equal(snapshot(restored, nullptr), saved));
}

std::string checkpoint_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no CheckpointError";
}

TEST_P(CheckpointTest, MissingOrForeignFilesNameTheFile) {
  const std::string missing = (dir_ / "nowhere.h5").string();
  EXPECT_NE(checkpoint_error([&] { read_checkpoint_info(missing); }).find(missing), std::string::npos);

  const std::string text = (dir_ / "notes.h5").string();
  std::ofstream(text) << "not hdf5 at all\n";
  const std::string text_error = checkpoint_error([&] { read_checkpoint_info(text); });
  EXPECT_NE(text_error.find(text), std::string::npos) << text_error;

  const std::string foreign = (dir_ / "foreign.h5").string();
  {
    h5::File file = h5::create_file(foreign);
    h5::write_attribute(file.get(), "format", std::string("keras"));
  }
  const std::string foreign_error = checkpoint_error([&] { read_checkpoint_info(foreign); });
  EXPECT_NE(foreign_error.find(foreign), std::string::npos) << foreign_error;
  EXPECT_NE(foreign_error.find("not a Stride checkpoint"), std::string::npos) << foreign_error;

  Model model = Model::from_spec(kSpec, kInput);
  model.init(backend(), 1);
  const std::string load_error = checkpoint_error([&] { load_model_state(missing, model); });
  EXPECT_NE(load_error.find(missing), std::string::npos) << load_error;
}

TEST_P(CheckpointTest, MismatchedModelNamesTheLayer) {
  Model model = Model::from_spec("conv(4,3) flatten dense(3)", Shape{5, 5, 1});
  model.init(backend(), 1);
  const std::string path = (dir_ / "small.h5").string();
  save_checkpoint(path, model_config(), model, nullptr, nullptr);

  Model wider = Model::from_spec("conv(5,3) flatten dense(3)", Shape{5, 5, 1});
  wider.init(backend(), 1);
  const std::string shape_error = checkpoint_error([&] { load_model_state(path, wider); });
  EXPECT_NE(shape_error.find("00_conv2d/kernel"), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find("(3, 3, 1, 4)"), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find(path), std::string::npos) << shape_error;

  Model deeper = Model::from_spec("conv(4,3) bn flatten dense(3)", Shape{5, 5, 1});
  deeper.init(backend(), 1);
  const std::string missing_error = checkpoint_error([&] { load_model_state(path, deeper); });
  EXPECT_NE(missing_error.find("01_batch_norm"), std::string::npos) << missing_error;

  Optimizer adam(OptimizerConfig{}, model);
  save_checkpoint(path, model_config(), model, &adam, nullptr);
  OptimizerConfig sgd_config;
  sgd_config.kind = "sgd";
  sgd_config.momentum = 0.9f;
  Optimizer sgd(sgd_config, model);
  const std::string kind_error = checkpoint_error([&] { load_optimizer_state(path, sgd); });
  EXPECT_NE(kind_error.find("'adam'"), std::string::npos) << kind_error;
}

}  // namespace
}  // namespace stride::testing
