// `stride report` as a user runs it: the built binary on a generated store,
// its exit codes and one-line errors, and the HTML page rendered by a headless
// Chromium (skipped when none is installed) to check the plots really draw.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "report_fixture.h"
#include "stride/common/strings.h"

namespace stride::tracker::testing {
namespace {

struct Result {
  int code = -1;
  std::string output;  // stdout and stderr together
};

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Result run(const std::string& command) {
  Result result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const Result which = run(std::string("command -v ") + name);
    if (which.code == 0 && !which.output.empty()) return trim(which.output);
  }
  return "";
}

class ReportCommandTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    fill_report_store(store);
  }
  Result report(const std::string& arguments) {
    return run(fmt::format("{} report {} --db {}", quote(STRIDE_BINARY), arguments, quote(db_path())));
  }
};

TEST_F(ReportCommandTest, TrialsAsJsonFromTheBinary) {
  const Result result = report("trials --experiment sweep --format json --top 2");
  ASSERT_EQ(result.code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["id"], 3);
  EXPECT_EQ(json[0]["params"]["train.optimizer"], "adam");
  EXPECT_DOUBLE_EQ(json[0]["metrics"]["val_accuracy"].get<double>(), 0.95);
}

TEST_F(ReportCommandTest, EverySubcommandRuns) {
  for (const std::string arguments :
       {"experiments", "experiments --format csv", "trials --sort val_loss --where 'train.lr >= 0.003'", "trial 3",
        "trial 1 --format json", "compare 1 2 3", "decisions --experiment sweep --changes-only",
        "decisions --trial 1 --format csv", "--help"}) {
    const Result result = report(arguments);
    EXPECT_EQ(result.code, 0) << arguments << "\n" << result.output;
    EXPECT_FALSE(result.output.empty()) << arguments;
  }
  const Result where = report("trials --where 'train.optimizer = sgd' --where 'train.lr > 0.002' --format csv");
  EXPECT_EQ(split(where.output, '\n', true).size(), 1u + 2u) << "header and trials 4, 2\n" << where.output;
}

TEST_F(ReportCommandTest, ErrorsAreOneLineAndNonZero) {
  struct Case {
    std::string arguments, expected;
  };
  for (const auto& c : {Case{"trial 99", "no trial 99"}, Case{"trialz", "did you mean 'trials'"},
                        Case{"trials --sort val_acc", "--sort 'val_acc'"}, Case{"trials --where 'lr <'", "no value"},
                        Case{"trials --format xml", "--format"}, Case{"html --experiment sweep", "--out"},
                        Case{"compare", "trial ids"}, Case{"decisions", "--experiment"}}) {
    const Result result = report(c.arguments);
    EXPECT_NE(result.code, 0) << c.arguments;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << c.arguments << "\n" << result.output;
    EXPECT_EQ(split(result.output, '\n', true).size(), 1u) << c.arguments << "\n" << result.output;
  }
  const Result missing =
      run(fmt::format("{} report trials --db {}", quote(STRIDE_BINARY), quote((dir_ / "nothing.db").string())));
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.output.find("nothing.db"), std::string::npos) << missing.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nothing.db")) << "a report never creates a store";
}

TEST_F(ReportCommandTest, HtmlPageRendersInAHeadlessBrowser) {
  const auto page = dir_ / "report" / "sweep.html";
  const Result result = report(fmt::format("html --experiment sweep --out {}", quote(page.string())));
  ASSERT_EQ(result.code, 0) << result.output;
  ASSERT_TRUE(std::filesystem::exists(page));
  EXPECT_GT(std::filesystem::file_size(page), 5000u);

  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "no chromium installed (apt-get install chromium)";
  const auto png = dir_ / "sweep.png";
  const Result shot = run(fmt::format(
      "{} --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir={} --screenshot={} "
      "--window-size=1400,1800 file://{}",
      quote(chromium), quote((dir_ / "chromium-profile").string()), quote(png.string()), quote(page.string())));
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.output;
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(png.string().c_str(), &width, &height, &channels, 3);
  ASSERT_NE(pixels, nullptr) << "the screenshot is not a readable PNG";
  EXPECT_EQ(width, 1400);
  // The curves sit near the top of the page: count distinct colours and
  // non-white pixels there. A blank or unstyled page has a handful of colours.
  std::set<uint32_t> colours;
  size_t inked = 0;
  const int rows = std::min(height, 900);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < width; ++x) {
      const unsigned char* p = pixels + 3 * (static_cast<size_t>(y) * width + x);
      colours.insert(uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]);
      inked += (p[0] < 200 || p[1] < 200 || p[2] < 200);
    }
  stbi_image_free(pixels);
  EXPECT_GT(colours.size(), 200u) << "the plots did not render";
  EXPECT_GT(inked, 20000u) << "too little drawn in the plot area";
}

}  // namespace
}  // namespace stride::tracker::testing
