// `stride summary` as Keras' model.summary() reads: parameter counts with
// thousands separators, batch norm's row counting its moving statistics (4
// per channel, 2 of them non-trainable), and no prepared data needed when the
// config (or --input) gives the input shape.
#include <gtest/gtest.h>

#include <fstream>

#include "process.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

using testing::read_text;

class SummaryTest : public ::testing::Test {
 protected:
  // Runs `stride summary ARGS` in the temporary directory (so data/ is absent); returns the exit code.
  int summary(const std::string& args) {
    return testing::run_process(
        {"/bin/sh", "-c",
         "cd '" + dir_.path().string() + "' && " + STRIDE_BINARY + " summary " + args + " > out.txt 2> err.txt"});
  }
  std::string out() const { return read_text(dir_ / "out.txt"); }
  std::string err() const { return read_text(dir_ / "err.txt"); }
  void write_config(const std::string& text) const { std::ofstream(dir_ / "m.ini") << text; }

  testing::TempDir dir_;
};

TEST_F(SummaryTest, TheSeedNetworkFromItsConfigAloneCountsAsKeras) {
  ASSERT_EQ(0, summary("--config " + std::string(STRIDE_SOURCE_DIR) + "/configs/seed_cnn_fashion.ini")) << err();
  // Keras' model.summary() of the same layers on 28x28x1: 93,322 parameters, conv 2 has 18,496.
  EXPECT_NE(out().find("Total params: 93,322 (364.54 KB)"), std::string::npos) << out();
  EXPECT_NE(out().find("18,496"), std::string::npos) << out();
}

TEST_F(SummaryTest, BatchNormRowCountsItsMovingStatistics) {
  write_config("[model]\nlayers = conv(8,3) bn relu flatten dense(4)\n");
  ASSERT_EQ(0, summary("--config m.ini --input 6x6x1")) << err();
  // conv 8*9+8 = 80; bn 4*8 = 32 of which 16 are the moving mean and variance; dense 4*4*8*4+4 = 516.
  const std::string text = out();
  const auto bn = text.find("01_batch_norm");
  ASSERT_NE(bn, std::string::npos) << text;
  const std::string row = text.substr(bn, text.find('\n', bn) - bn);
  EXPECT_NE(row.find(" 32 "), std::string::npos) << row;
  EXPECT_NE(row.find(" 16 "), std::string::npos) << row;
  EXPECT_NE(text.find("Total params: 628 "), std::string::npos) << text;
  EXPECT_NE(text.find("Trainable params: 612 "), std::string::npos) << text;
  EXPECT_NE(text.find("Non-trainable params: 16 "), std::string::npos) << text;
  // Scripts get numbers, not text with separators.
  ASSERT_EQ(0, summary("--config m.ini --input 6x6x1 --format csv")) << err();
  EXPECT_NE(out().find("01_batch_norm,bn,\"(None, 4, 4, 8)\",32,16,"), std::string::npos) << out();
}

TEST_F(SummaryTest, AModelOfAnySizePrintsWithoutAllocatingIt) {
  // 78.5 trillion parameters (628 TB with their gradients): shape inference only.
  write_config("[model]\nlayers = flatten dense(100000000000)\n");
  ASSERT_EQ(0, summary("--config m.ini --input 28x28x1")) << err();
  EXPECT_NE(out().find("Total params: 78,500,000,000,000 "), std::string::npos) << out();
}

TEST_F(SummaryTest, WithoutAnInputShapeTheErrorSaysWhereToGiveOne) {
  write_config("[model]\nlayers = flatten dense(4)\n");
  EXPECT_EQ(1, summary("--config m.ini"));
  const std::string message = err();
  EXPECT_NE(message.find("model.input_shape"), std::string::npos) << message;
  EXPECT_NE(message.find("--input"), std::string::npos) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 1) << message;
  write_config("[model]\nlayers = flatten dense(4)\ninput_shape = 4x4\n");
  EXPECT_EQ(1, summary("--config m.ini"));
  EXPECT_NE(err().find("model.input_shape: expected HxWxC"), std::string::npos) << err();
}

}  // namespace
}  // namespace stride::tools
