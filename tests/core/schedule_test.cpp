// Learning-rate schedules at chosen steps against their closed forms; the
// one-cycle values are PyTorch OneCycleLR's (anneal_strategy="cos").
#include <gtest/gtest.h>

#include <cmath>

#include "stride/common/error.h"
#include "stride/core/schedule.h"

namespace stride {
namespace {

constexpr double kPi = 3.14159265358979323846;

ScheduleConfig config(const std::string& kind, float lr, int64_t epochs, int64_t steps_per_epoch) {
  ScheduleConfig c;
  c.kind = kind;
  c.lr = lr;
  c.epochs = epochs;
  c.steps_per_epoch = steps_per_epoch;
  return c;
}

TEST(LrScheduleTest, ConstantIsConstant) {
  LrSchedule s(config("constant", 0.003f, 5, 10));
  for (int64_t step : {0, 1, 25, 49, 1000}) EXPECT_FLOAT_EQ(s.at(step), 0.003f);
}

TEST(LrScheduleTest, StepDecaysEveryStepEpochs) {
  ScheduleConfig c = config("step", 0.1f, 30, 10);
  c.step_epochs = 10;
  c.gamma = 0.5f;
  LrSchedule s(c);
  EXPECT_FLOAT_EQ(s.at(0), 0.1f);
  EXPECT_FLOAT_EQ(s.at(99), 0.1f);    // epoch 9.9
  EXPECT_FLOAT_EQ(s.at(100), 0.05f);  // epoch 10
  EXPECT_FLOAT_EQ(s.at(199), 0.05f);
  EXPECT_FLOAT_EQ(s.at(250), 0.025f);
}

TEST(LrScheduleTest, CosineFromLrToMinLrOverTraining) {
  ScheduleConfig c = config("cosine", 0.1f, 10, 10);
  c.min_lr = 0.001f;
  LrSchedule s(c);
  auto expected = [&](double t) { return 0.001 + (0.1 - 0.001) * (1 + std::cos(kPi * t)) / 2; };
  EXPECT_NEAR(s.at(0), 0.1, 1e-7);
  EXPECT_NEAR(s.at(25), expected(0.25), 1e-7);
  EXPECT_NEAR(s.at(50), expected(0.5), 1e-7);
  EXPECT_NEAR(s.at(99), expected(0.99), 1e-7);
  EXPECT_NEAR(s.at(100), 0.001, 1e-7);
  EXPECT_NEAR(s.at(500), 0.001, 1e-7);  // stays at the floor past the end
}

TEST(LrScheduleTest, WarmupRampsLinearlyThenHandsOverToCosine) {
  ScheduleConfig c = config("cosine", 0.1f, 10, 10);
  c.warmup_epochs = 2;  // 20 steps
  LrSchedule s(c);
  EXPECT_NEAR(s.at(0), 0.1 / 20, 1e-8);
  EXPECT_NEAR(s.at(9), 0.1 * 10 / 20, 1e-8);
  EXPECT_NEAR(s.at(19), 0.1, 1e-8);
  EXPECT_NEAR(s.at(20), 0.1, 1e-8);  // cosine starts after warmup
  EXPECT_NEAR(s.at(60), 0.1 * (1 + std::cos(kPi * 0.5)) / 2, 1e-7);
  EXPECT_NEAR(s.at(100), 0.0, 1e-8);
}

TEST(LrScheduleTest, WarmupAppliesToStepAndConstantAndAcceptsFractionalEpochs) {
  ScheduleConfig c = config("constant", 0.2f, 4, 8);
  c.warmup_epochs = 0.5f;  // 4 steps
  LrSchedule constant(c);
  EXPECT_NEAR(constant.at(0), 0.05, 1e-8);
  EXPECT_NEAR(constant.at(2), 0.15, 1e-8);
  EXPECT_NEAR(constant.at(3), 0.2, 1e-8);
  EXPECT_NEAR(constant.at(4), 0.2, 1e-8);

  c.kind = "step";
  c.step_epochs = 1;
  c.gamma = 0.1f;
  LrSchedule step(c);
  EXPECT_NEAR(step.at(1), 0.2 * 2 / 4, 1e-8);
  EXPECT_NEAR(step.at(8), 0.02, 1e-8);
}

TEST(LrScheduleTest, OneCycleMatchesPyTorch) {
  ScheduleConfig c = config("onecycle", 0.01f, 10, 10);  // 100 steps
  c.pct_start = 0.3f;
  c.div_factor = 25;
  c.final_div_factor = 1e4f;
  c.warmup_epochs = 3;  // ignored: one-cycle has its own ramp
  LrSchedule s(c);
  // torch.optim.lr_scheduler.OneCycleLR(max_lr=0.01, total_steps=100, pct_start=0.3)
  const std::pair<int64_t, double> torch[] = {{0, 0.0004}, {10, 0.002951639484641007}, {28, 0.009971862194340927},
                                              {29, 0.01},  {30, 0.009994965352845242}, {50, 0.00793893450575732},
                                              {99, 4e-08}};
  for (const auto& [step, lr] : torch) EXPECT_NEAR(s.at(step), lr, 1e-6 * lr + 1e-12) << "step " << step;
}

TEST(LrScheduleTest, BadConfigsNameTheKey) {
  auto message = [](const ScheduleConfig& c) {
    try {
      LrSchedule s(c);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(config("cosin", 0.1f, 1, 1)).find("train.schedule"), std::string::npos);
  EXPECT_NE(message(config("constant", 0.0f, 1, 1)).find("train.lr"), std::string::npos);
  ScheduleConfig c = config("onecycle", 0.1f, 1, 1);
  c.pct_start = 1.0f;
  EXPECT_NE(message(c).find("train.pct_start"), std::string::npos);
}

}  // namespace
}  // namespace stride
