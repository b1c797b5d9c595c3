// The report renderers: JSON structure (DESIGN.md §5), CSV, the leaderboard's
// swept columns, sort/top/where, compare markers, and HTML escaping.
#include "stride/tracker/report.h"

#include <fstream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "report_fixture.h"
#include "stride/common/strings.h"

namespace stride::tracker::testing {
namespace {

class ReportTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    fill_report_store(store);
  }
  Store reader() { return open(Access::read_only); }

  std::vector<int64_t> leaderboard_ids(report::TrialsOptions options) {
    if (!options.experiment) options.experiment = "sweep";
    auto store = reader();
    std::vector<int64_t> ids;
    for (const auto& t : report::leaderboard(store, options).trials) ids.push_back(t.id);
    return ids;
  }
};

size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

TEST_F(ReportTest, TrialsJsonListsTrialsWithTypedParamsAndFinalMetrics) {
  auto store = reader();
  report::TrialsOptions options;
  options.experiment = "sweep";
  const auto json = nlohmann::json::parse(report::render_trials(store, options, TableFormat::json));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 4u);
  const auto& best = json[0];
  EXPECT_EQ(best["id"], 3) << "sorted by each trial's best val_accuracy, best first";
  EXPECT_EQ(best["experiment"], "sweep");
  EXPECT_EQ(best["status"], "completed");
  ASSERT_TRUE(best["params"].is_object());
  EXPECT_TRUE(best["params"]["train.lr"].is_number_float());
  EXPECT_EQ(best["params"]["train.lr"].get<double>(), 0.01);
  EXPECT_TRUE(best["params"]["data.batch_size"].is_number_integer());
  EXPECT_EQ(best["params"]["train.optimizer"], "adam");
  ASSERT_TRUE(best["metrics"].is_object());
  EXPECT_DOUBLE_EQ(best["metrics"]["val_accuracy"].get<double>(), 0.95);
  EXPECT_DOUBLE_EQ(best["metrics"]["val_loss"].get<double>(), 1 - 0.95);
  EXPECT_TRUE(best["metrics"].contains("train_loss"));
  EXPECT_EQ(best["best"]["metric"], "val_accuracy");
  EXPECT_EQ(best["best"]["epoch"], 4);
  EXPECT_EQ(best["best"]["goal"], "max");
  EXPECT_EQ(best["epochs"], 5);
  EXPECT_EQ(json[3]["id"], 1);
  EXPECT_EQ(json[3]["status"], "stopped_early");
}

TEST_F(ReportTest, TextLeaderboardHasAColumnPerSweptParameterOnly) {
  auto store = reader();
  report::TrialsOptions options;
  options.experiment = "sweep";
  const std::string text = report::render_trials(store, options, TableFormat::text);
  const std::string header = text.substr(0, text.find('\n'));
  EXPECT_NE(header.find("train.lr"), std::string::npos) << header;
  EXPECT_NE(header.find("train.optimizer"), std::string::npos) << header;
  EXPECT_EQ(header.find("data.batch_size"), std::string::npos) << "the same in every trial: not swept\n" << header;
  EXPECT_EQ(header.find("model.layers"), std::string::npos) << header;
  EXPECT_NE(header.find("val_accuracy"), std::string::npos) << header;
  EXPECT_EQ(count_of(text, "\n"), 2u + 4u);
  EXPECT_EQ(report::leaderboard(store, options).swept_params,
            (std::vector<std::string>{"train.lr", "train.optimizer"}));
}

TEST_F(ReportTest, CsvQuotesFieldsAndKeepsFullPrecision) {
  auto store = reader();
  report::TrialsOptions options;
  options.experiment = "sweep";
  options.sort = "id";
  const std::string csv = report::render_trials(store, options, TableFormat::csv);
  const auto lines = split(csv, '\n', true);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_TRUE(lines[0].starts_with("id,status,train.lr,train.optimizer,epochs,best_metric,best,best_epoch,"))
      << lines[0];
  EXPECT_TRUE(lines[1].starts_with("1,stopped_early,0.001,adam,3,val_accuracy,0.6,2,")) << lines[1];

  // A text value with a comma is quoted when it is a column (compare lists every parameter).
  const std::vector<int64_t> ids = {1, 2};
  const std::string compare = report::render_compare(store, ids, TableFormat::csv);
  EXPECT_NE(compare.find("model.layers,false,\"conv(32,3) relu, dense(10)\",\"conv(32,3) relu, dense(10)\""),
            std::string::npos)
      << compare;
}

TEST_F(ReportTest, SortTopAndWhereSelectTheRows) {
  report::TrialsOptions by_loss;
  by_loss.sort = "val_loss";
  EXPECT_EQ(leaderboard_ids(by_loss), (std::vector<int64_t>{3, 4, 2, 1})) << "losses sort ascending";
  report::TrialsOptions by_accuracy;
  by_accuracy.sort = "val_accuracy";
  by_accuracy.top = 2;
  EXPECT_EQ(leaderboard_ids(by_accuracy), (std::vector<int64_t>{3, 4}));
  report::TrialsOptions by_lr;
  by_lr.sort = "train.lr";
  EXPECT_EQ(leaderboard_ids(by_lr), (std::vector<int64_t>{1, 2, 3, 4}));
  report::TrialsOptions by_optimizer;
  by_optimizer.sort = "train.optimizer";
  EXPECT_EQ(leaderboard_ids(by_optimizer), (std::vector<int64_t>{1, 3, 2, 4}));
  report::TrialsOptions where;
  where.where = {"train.lr > 0.002", "train.optimizer = sgd"};
  EXPECT_EQ(leaderboard_ids(where), (std::vector<int64_t>{4, 2}));
  report::TrialsOptions epochs;
  epochs.sort = "epochs";
  epochs.where = {"status = completed"};
  EXPECT_EQ(leaderboard_ids(epochs), (std::vector<int64_t>{2, 3, 4}));

  report::TrialsOptions unknown;
  unknown.sort = "val_acuracy";
  try {
    leaderboard_ids(unknown);
    FAIL() << "an unknown sort key must be an error";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'val_accuracy'"), std::string::npos) << e.what();
  }
}

// Optuna ranks complete trials only: a failed, pruned or running trial with a
// better value comes after every finished one, and is never "the best".
TEST_F(ReportTest, FinishedTrialsRankBeforeFailedPrunedAndRunningOnes) {
  {
    auto store = open();
    const int64_t sweep = store.ensure_experiment("sweep");
    const TrialStatus statuses[] = {TrialStatus::failed, TrialStatus::pruned, TrialStatus::running};
    for (int i = 0; i < 3; ++i) {
      const int64_t id = store.start_trial(new_trial(sweep, {{"train.lr", 0.1 * (i + 1)}}));
      store.log_metrics(id, epoch_rows(0, 0.99, 0.01));
      const BestMetric best{"val_accuracy", 0.99, 0, std::nullopt};
      if (statuses[i] == TrialStatus::running)
        store.set_best(id, best);
      else
        store.finish_trial(id, {statuses[i], best, std::nullopt, std::string("stopped")});
    }
  }
  for (const char* sort : {"best", "val_accuracy", "val_loss"}) {
    report::TrialsOptions options;
    options.experiment = "sweep";
    options.sort = sort;
    EXPECT_EQ(leaderboard_ids(options), (std::vector<int64_t>{3, 4, 2, 1, 9, 8, 7})) << "sorted by " << sort;
  }
  auto store = reader();
  for (const auto& e : store.experiments()) {
    if (e.name == "sweep") {
      EXPECT_EQ(e.best_trial, 3) << "the best is a finished trial";
    }
  }
}

TEST_F(ReportTest, ExperimentsCountTrialsByStatusAndNameTheBest) {
  auto store = reader();
  const auto json = nlohmann::json::parse(report::render_experiments(store, TableFormat::json));
  ASSERT_EQ(json.size(), 2u);
  const auto& sweep = json[1]["name"] == "sweep" ? json[1] : json[0];
  EXPECT_EQ(sweep["trials"], 4);
  EXPECT_EQ(sweep["trials_by_status"]["completed"], 3);
  EXPECT_EQ(sweep["trials_by_status"]["stopped_early"], 1);
  EXPECT_EQ(sweep["best"]["trial"], 3);
  EXPECT_DOUBLE_EQ(sweep["best"]["value"].get<double>(), 0.95);
  EXPECT_TRUE(sweep["last_activity"].is_number());
  const std::string text = report::render_experiments(store, TableFormat::text);
  EXPECT_NE(text.find("sweep"), std::string::npos);
}

TEST_F(ReportTest, TrialViewShowsCurvesDecisionsAndEvaluation) {
  auto store = reader();
  const std::string text = report::render_trial(store, 3, TableFormat::text, {true});
  EXPECT_NE(text.find("train.lr"), std::string::npos);
  EXPECT_NE(text.find("▁"), std::string::npos) << "a rising curve starts low\n" << text;
  EXPECT_NE(text.find("█"), std::string::npos) << text;
  EXPECT_NE(text.find("confusion matrix"), std::string::npos) << text;
  EXPECT_NE(text.find("bird"), std::string::npos) << text;
  EXPECT_EQ(report::render_trial(store, 3, TableFormat::text, {false}).find("▁"), std::string::npos)
      << "no sparklines off a terminal";

  const auto json = nlohmann::json::parse(report::render_trial(store, 1, TableFormat::json));
  EXPECT_EQ(json["curves"]["val_accuracy"].size(), 3u);
  EXPECT_EQ(json["best_metrics"]["val_loss"]["epoch"], 2);
  ASSERT_EQ(json["decisions"].size(), 4u);
  EXPECT_EQ(json["decisions"][3]["kind"], "early_stop");
  EXPECT_EQ(json["decisions"][3]["patience_left"], 0);
  EXPECT_TRUE(json["evaluations"].empty());
  const auto evaluated = nlohmann::json::parse(report::render_trial(store, 3, TableFormat::json));
  EXPECT_EQ(evaluated["evaluations"][0]["confusion"][1][0], 2);
  EXPECT_EQ(evaluated["evaluations"][0]["classes"][2]["name"], "bird");

  const std::string stopped = report::render_trial(store, 1, TableFormat::text);
  EXPECT_NE(stopped.find("no improvement for 2 epochs"), std::string::npos) << stopped;
  const auto csv = split(report::render_trial(store, 1, TableFormat::csv), '\n', true);
  EXPECT_EQ(csv.size(), 1u + 3u) << "one row per epoch";
  EXPECT_THROW(report::render_trial(store, 99, TableFormat::text), StoreError);
}

TEST_F(ReportTest, CompareMarksFieldsThatDiffer) {
  auto store = reader();
  const std::vector<int64_t> ids = {2, 4};
  const std::string text = report::render_compare(store, ids, TableFormat::text);
  for (const auto& line : split(text, '\n', true)) {
    const bool marked = line.starts_with("* ");
    if (line.find("train.lr") != std::string::npos) {
      EXPECT_TRUE(marked) << line;
    }
    if (line.find("train.optimizer") != std::string::npos || line.find("data.batch_size") != std::string::npos) {
      EXPECT_FALSE(marked) << line;
    }
  }
  const auto json = nlohmann::json::parse(report::render_compare(store, ids, TableFormat::json));
  EXPECT_EQ(json["trials"].size(), 2u);
  const auto& differs = json["differs"];
  EXPECT_NE(std::find(differs.begin(), differs.end(), "train.lr"), differs.end());
  EXPECT_EQ(std::find(differs.begin(), differs.end(), "train.optimizer"), differs.end());
  const std::string bold = report::render_compare(store, ids, TableFormat::text, {true});
  EXPECT_NE(bold.find("\x1b[1m* train.lr"), std::string::npos) << bold;
}

TEST_F(ReportTest, DecisionsListEveryCheckOrOnlyTheChanges) {
  auto store = reader();
  DecisionQuery all{std::string("sweep"), std::nullopt, true};
  EXPECT_EQ(nlohmann::json::parse(report::render_decisions(store, all, TableFormat::json)).size(), 3u + 5 * 3 + 1);
  DecisionQuery changes{std::string("sweep"), std::nullopt, false};
  const auto json = nlohmann::json::parse(report::render_decisions(store, changes, TableFormat::json));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["trial"], 1);
  EXPECT_EQ(json[0]["reason"], "no improvement for 2 epochs");
  DecisionQuery missing{std::string("sweeep"), std::nullopt, true};
  EXPECT_THROW(report::render_decisions(store, missing, TableFormat::text), StoreError);
}

TEST_F(ReportTest, HtmlPageIsSelfContainedWithEveryPlot) {
  auto store = reader();
  const std::string html = report::render_html(store, "sweep");
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(count_of(html, "<svg"), 3u + 1u + 1u) << "three curve charts, parallel coordinates, confusion matrix";
  EXPECT_EQ(count_of(html, "<script"), 0u);
  EXPECT_EQ(count_of(html, "http://"), count_of(html, "xmlns=\"http://www.w3.org/2000/svg\""))
      << "no external resources";
  EXPECT_EQ(count_of(html, "<polyline"), 3u * 4u + 4u) << "one line per trial in each chart";
  EXPECT_NE(html.find("hyperparameters vs best val_accuracy"), std::string::npos);
  EXPECT_NE(html.find("trial 3 (rank 1), split test"), std::string::npos) << "the best trial's confusion matrix";
  EXPECT_NE(html.find("<th>train.lr</th>"), std::string::npos);
  // The curves' x axis counts epochs (0 to 4 here): whole-number ticks only.
  const std::regex epoch_tick(R"re(class="tick" text-anchor="middle">([^<]*)<)re");
  std::set<std::string> ticks;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), epoch_tick); it != std::sregex_iterator(); ++it)
    ticks.insert((*it)[1].str());
  EXPECT_EQ(ticks, (std::set<std::string>{"0", "1", "2", "3", "4"}));
}

TEST_F(ReportTest, HtmlEscapesEveryNameAndValue) {
  auto store = reader();
  const std::string html = report::render_html(store, kMarkup);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "markup from the store became markup";
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>x</b>"), std::string::npos);
  EXPECT_EQ(count_of(html, "</svg>"), count_of(html, "<svg")) << "a class name closed an svg";
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  EXPECT_NE(html.find("&amp;amp;"), std::string::npos) << "an entity in a value shows as written";
  // Every tag in the page is one of ours.
  const std::regex tag("<([a-zA-Z!/][a-zA-Z0-9]*)");
  const std::set<std::string> ours = {"!DOCTYPE", "html",  "head", "meta", "title", "style", "body", "h1",
                                      "h2",       "p",     "div",  "svg",  "rect",  "text",  "line", "g",
                                      "polyline", "table", "tr",   "th",   "td",    "span"};
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[1].str();
    if (name.starts_with("/")) name = name.substr(1);
    EXPECT_TRUE(ours.count(name)) << "unexpected tag <" << name << ">";
  }
}

TEST(ReportPieces, HtmlEscapeCoversTextAndAttributes) {
  EXPECT_EQ(report::html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(report::html_escape("plain"), "plain");
}

TEST(ReportPieces, SparklineScalesToTheRange) {
  const std::vector<double> rising = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(report::sparkline(rising), "▁▂▃▄▅▆▇█");
  const std::vector<double> gap = {1, NAN, 1};
  EXPECT_EQ(report::sparkline(gap), "▅ ▅");
  EXPECT_EQ(report::sparkline(std::vector<double>{}), "");
}

TEST(ReportPieces, WriteFileAtomicallyReplacesAndLeavesNoTemporary) {
  stride::testing::TempDir dir;
  const auto path = dir / "out" / "page.html";
  report::write_file_atomically(path, "first");
  report::write_file_atomically(path, "second");
  EXPECT_EQ(stride::testing::read_text(path), "second");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(path.parent_path()), {}), 1);
  EXPECT_THROW(report::write_file_atomically(dir.path(), "x"), Error) << "a directory cannot be replaced";
}

TEST_F(StoreTest, TrialTextShowsNamesFromTheStoreWithControlCharactersEscaped) {
  auto store = open();
  const int64_t experiment = store.ensure_experiment("x\x1b]0;owned\x07");
  NewTrial trial = new_trial(experiment, {{"train.lr", 0.01}});
  trial.host = "host\x1b[2J";
  const int64_t id = store.start_trial(trial);
  store.finish_trial(id, {TrialStatus::failed, std::nullopt, std::nullopt, std::string("boom\x1b[31m")});
  const std::string text = report::render_trial(store, id, TableFormat::text);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << printable(text);
  EXPECT_NE(text.find("of experiment x\\x1b]0;owned\\x07:"), std::string::npos) << text;
  EXPECT_NE(text.find("host host\\x1b[2J,"), std::string::npos) << text;
  EXPECT_NE(text.find("error: boom\\x1b[31m"), std::string::npos) << text;
}

}  // namespace
}  // namespace stride::tracker::testing
