// The dashboard's pages rendered by a headless Chromium over the report
// fixture's store (driven by tests/tools/dashboard_browser.py): the
// leaderboard abbreviates long values with the full text as a tooltip, sorts
// by a clicked column and filters by status; markup from the store stays
// text; a trial page shows every decision, the per-class report and the
// confusion matrix. Skipped without chromium or python3.
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report_fixture.h"
#include "stride/tracker/dashboard.h"

namespace stride::tracker::testing {
namespace {

using nlohmann::json;

constexpr const char* kLongLayers =
    "conv(32,3) relu maxpool(2) conv(64,3) relu maxpool(2) conv(64,3) relu flatten dense(64) relu dense(10)";

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Percent-encodes everything but unreserved characters, for a query value.
std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

class DashboardPagesTest : public StoreTest {
 protected:
  void SetUp() override {
    if (!on_path("chromium")) GTEST_SKIP() << "no chromium installed (tools/setup.sh test installs it)";
    if (!on_path("python3")) GTEST_SKIP() << "no python3 installed (tools/setup.sh test installs it)";
    auto store = open();
    fill_report_store(store);
    // A fifth finished trial with another (long) architecture, so model.layers is swept.
    const int64_t id = store.start_trial(new_trial(
        *store.find_experiment("sweep"),
        {{"train.lr", 0.002}, {"train.optimizer", "adam"}, {"data.batch_size", 64}, {"model.layers", kLongLayers}}));
    store.log_metrics(id, epoch_rows(0, 0.5, 0.5));
    store.finish_trial(
        id, {TrialStatus::completed, BestMetric{"val_accuracy", 0.5, 0, std::nullopt}, std::nullopt, std::nullopt});
    long_trial_ = id;
    server_ = std::make_unique<dashboard::Server>(db_path(), dashboard::ServerOptions{"127.0.0.1", 0, {}});
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  // Loads each (path, ready, expression) in one browser; the expressions' values.
  json probe(const std::vector<std::array<std::string, 3>>& pages) {
    std::string command = fmt::format("python3 {} probe chromium", quote(STRIDE_DASHBOARD_BROWSER));
    for (const auto& [path, ready, expression] : pages)
      command += fmt::format(" {} {} {}", quote(server_->url() + path), quote(ready), quote(expression));
    command += " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    size_t n;
    while (pipe && (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = pipe ? ::pclose(pipe) : -1;
    EXPECT_EQ(status, 0) << output;
    json values = json::parse(output, nullptr, false);
    if (values.is_discarded() || !values.is_array() || values.size() != pages.size()) {
      ADD_FAILURE() << "the browser gave no answer:\n" << output;
      return json::array();
    }
    return values;
  }

  int64_t long_trial_ = 0;
  std::unique_ptr<dashboard::Server> server_;
};

// JavaScript: the leaderboard's row ids in order.
constexpr const char* kRowIds =
    "Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(r => +r.dataset.id)";

TEST_F(DashboardPagesTest, LeaderboardAbbreviatesSortsAndFilters) {
  const std::string ready =
      "document.body.dataset.state === 'ready' && document.getElementById('leaderboard').dataset.trials === '5'";
  const std::string expression = fmt::format(R"js((() => {{
    const ids = () => {0};
    const header = (name) => Array.from(document.querySelectorAll('#leaderboard th')).find(th => th.title === name);
    const layers = document.querySelector('#leaderboard tr[data-id="{1}"] td.abbreviated');
    const result = {{ranked: ids(), text: layers ? layers.textContent : null, title: layers ? layers.title : null}};
    header('train.lr').click();
    result.by_lr = ids();
    header('train.lr').click();
    result.by_lr_descending = ids();
    const status = document.getElementById('status');
    status.value = 'stopped_early';
    status.dispatchEvent(new Event('change'));
    result.stopped_early = ids();
    return result;
  }})())js",
                                             kRowIds, long_trial_);
  const json values = probe({{"?experiment=sweep", ready, expression}});
  ASSERT_EQ(values.size(), 1u);
  const json& v = values[0];
  EXPECT_EQ(v["ranked"], json({3, 4, 2, 1, long_trial_})) << "best val_accuracy first";
  ASSERT_TRUE(v["text"].is_string()) << "the long model.layers value is not abbreviated";
  EXPECT_EQ(v["title"], kLongLayers) << "the tooltip holds the full text";
  EXPECT_LT(v["text"].get<std::string>().size(), 40u);
  EXPECT_EQ(v["text"].get<std::string>().substr(0, 20), std::string(kLongLayers).substr(0, 20));
  EXPECT_EQ(v["by_lr"], json({1, long_trial_, 2, 3, 4})) << "lr 0.001, 0.002, 0.003, 0.01, 0.03";
  EXPECT_EQ(v["by_lr_descending"], json({4, 3, 2, long_trial_, 1}));
  EXPECT_EQ(v["stopped_early"], json({1}));
}

TEST_F(DashboardPagesTest, MarkupFromTheStoreStaysText) {
  const std::string ready =
      "document.body.dataset.state === 'ready' && "
      "document.getElementById('leaderboard').dataset.trials === '2'";
  const std::string expression = R"js(({
    injected: document.querySelectorAll('#leaderboard img, #leaderboard script, #parallel img').length,
    scripts: document.scripts.length,
    cells: Array.from(document.querySelectorAll('#leaderboard td')).map(td => td.title || td.textContent),
    heads: Array.from(document.querySelectorAll('#leaderboard th')).map(th => th.title)}))js";
  const json values = probe({{"?experiment=" + url_encode(kMarkup), ready, expression}});
  ASSERT_EQ(values.size(), 1u);
  const json& v = values[0];
  EXPECT_EQ(v["injected"], 0);
  EXPECT_EQ(v["scripts"], 5) << "only the page's own scripts";
  const auto& cells = v["cells"];
  EXPECT_NE(std::find(cells.begin(), cells.end(), "<img src=x onerror=alert(2)>"), cells.end()) << cells.dump();
  const auto& heads = v["heads"];
  EXPECT_NE(std::find(heads.begin(), heads.end(), kMarkup), heads.end()) << heads.dump();
}

TEST_F(DashboardPagesTest, TrialPagesShowDecisionsReportAndConfusion) {
  const std::string stopped_ready = "document.body.dataset.state === 'ready'";
  const std::string stopped = R"js((() => {
    const kinds = () => Array.from(document.querySelectorAll('#decisions tbody tr')).map(r => r.cells[2].textContent);
    const all = kinds();
    const last = document.querySelector('#decisions tbody tr:last-child');
    const lastRow = Array.from(last.cells).map(c => c.textContent);
    document.getElementById('hide-keep').click();
    return {all, lastRow, changes: kinds(), title: document.getElementById('title').textContent,
            points: +document.getElementById('curves').dataset.points,
            splits: +document.getElementById('evaluations').dataset.splits};
  })())js";
  const std::string evaluated = R"js(({
    confusion: Array.from(document.querySelectorAll('table.confusion td')).map(td => +td.textContent),
    classes: Array.from(document.querySelectorAll('table.report tr')).slice(1).map(r => r.cells[0].textContent),
    splits: +document.getElementById('evaluations').dataset.splits}))js";
  const json values = probe({{"trial/1", stopped_ready, stopped}, {"trial/3", stopped_ready, evaluated}});
  ASSERT_EQ(values.size(), 2u);
  const json& s = values[0];
  EXPECT_EQ(s["title"], "trial 1 of sweep: stopped_early");
  EXPECT_EQ(s["all"], json({"keep", "keep", "keep", "early_stop"})) << "every decision, 'keep' included";
  EXPECT_EQ(s["changes"], json({"early_stop"}));
  // epoch, checker, kind, monitor, value, best, wait, patience left, reason
  EXPECT_EQ(s["lastRow"], json({"2", "early_stopping", "early_stop", "val_loss", "0.4", "0.4", "2", "0",
                                "no improvement for 2 epochs"}));
  EXPECT_EQ(s["points"], 9) << "three curves of three epochs";
  EXPECT_EQ(s["splits"], 0);
  const json& e = values[1];
  EXPECT_EQ(e["splits"], 1);
  EXPECT_EQ(e["confusion"], json({19, 1, 0, 2, 18, 0, 0, 0, 20})) << "rows are true classes";
  EXPECT_EQ(e["classes"], json({"cat", "dog", "bird", "macro avg", "weighted avg"}));
}

}  // namespace
}  // namespace stride::tracker::testing
