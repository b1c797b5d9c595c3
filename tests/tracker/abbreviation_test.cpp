// Long values (a layer spec runs to hundreds of characters) are shortened in
// the leaderboard, `compare` and the HTML page, keeping both ends, with the
// whole text a flag (--wide) or a tooltip away; CSV and JSON keep it whole.
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "stride/common/strings.h"
#include "stride/tracker/report.h"

namespace stride::tracker::testing {
namespace {

// A spec like the VGG one: about 330 characters.
std::string long_spec(int width) {
  std::string spec;
  for (int block = 0; block < 8; ++block)
    spec += "conv(" + std::to_string(width << (block / 3)) + ",3,padding=same,bias=false) bn relu ";
  return spec + "flatten dense(10)";
}

size_t code_points(const std::string& text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

TEST(Abbreviate, KeepsBothEndsWithinTheLimit) {
  const std::string spec = long_spec(32);
  ASSERT_GT(spec.size(), 300u);
  const std::string short_form = report::abbreviate(spec, 40);
  EXPECT_EQ(code_points(short_form), 40u) << short_form;
  EXPECT_TRUE(short_form.starts_with("conv(32,3,")) << short_form;
  EXPECT_TRUE(short_form.ends_with("dense(10)")) << short_form;
  EXPECT_NE(short_form.find("…"), std::string::npos);
  EXPECT_EQ(report::abbreviate("lr 0.001", 40), "lr 0.001");
  // Multi-byte characters are never cut in half.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "é";
  const std::string cut = report::abbreviate(accents, 10);
  EXPECT_EQ(code_points(cut), 10u);
  EXPECT_EQ(cut, "ééééé…éééé");
}

class AbbreviationTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    const int64_t experiment = store.ensure_experiment("wide");
    for (int width : {16, 32}) {
      const int64_t id = store.start_trial(new_trial(experiment, {{"model.layers", long_spec(width)}}));
      store.log_metrics(id, epoch_rows(0, 0.5 + width / 100.0, 0.5));
      store.finish_trial(id, {TrialStatus::completed, BestMetric{"val_accuracy", 0.5 + width / 100.0, 0, {}}});
    }
  }
};

TEST_F(AbbreviationTest, TheLeaderboardShortensUnlessWide) {
  auto store = open(Access::read_only);
  report::TrialsOptions options;
  options.experiment = "wide";
  const std::string text = report::render_trials(store, options, TableFormat::text);
  for (const std::string& line : split(text, '\n')) EXPECT_LT(code_points(line), 160u) << line;
  EXPECT_EQ(text.find(long_spec(32)), std::string::npos);
  EXPECT_NE(text.find("--wide shows them whole"), std::string::npos) << text;
  options.wide = true;
  EXPECT_NE(report::render_trials(store, options, TableFormat::text).find(long_spec(32)), std::string::npos);
  options.wide = false;
  EXPECT_NE(report::render_trials(store, options, TableFormat::csv).find(long_spec(32)), std::string::npos);
  const auto json = nlohmann::json::parse(report::render_trials(store, options, TableFormat::json));
  EXPECT_EQ(json[0]["params"]["model.layers"].get<std::string>().size(), long_spec(32).size());
}

TEST_F(AbbreviationTest, CompareShortensUnlessWide) {
  auto store = open(Access::read_only);
  const std::vector<int64_t> ids = {1, 2};
  const std::string text = report::render_compare(store, ids, TableFormat::text);
  EXPECT_EQ(text.find(long_spec(16)), std::string::npos);
  EXPECT_NE(text.find("--wide"), std::string::npos) << text;
  EXPECT_NE(text.find("* model.layers"), std::string::npos) << text;  // still marked as differing
  EXPECT_NE(report::render_compare(store, ids, TableFormat::text, {false, true}).find(long_spec(16)),
            std::string::npos);
}

TEST_F(AbbreviationTest, TheHtmlPageShowsShortValuesWithTheWholeOneAsTooltip) {
  auto store = open(Access::read_only);
  const std::string html = report::render_html(store, "wide");
  const std::string whole = report::html_escape(long_spec(32));
  // The whole spec appears only as a tooltip: the cell's title attribute and the axis label's <title>.
  size_t count = 0;
  for (size_t at = html.find(whole); at != std::string::npos; at = html.find(whole, at + 1)) {
    ++count;
    const bool attribute = html.compare(at - 7, 7, "title=\"") == 0;
    const bool element = html.compare(at - 7, 7, "<title>") == 0;
    EXPECT_TRUE(attribute || element) << html.substr(at - 40, 80);
  }
  EXPECT_EQ(count, 2u);
  EXPECT_NE(html.find(report::html_escape(report::abbreviate(long_spec(32)))), std::string::npos);
}

}  // namespace
}  // namespace stride::tracker::testing
