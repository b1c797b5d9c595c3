// The dashboard's JSON API as a browser sees it: a Server on an ephemeral
// port of 127.0.0.1 over the report fixture's store, queried with
// cpp-httplib's client. The leaderboard ranks finished trials only; trial
// pages carry every decision and the evaluation; curves, importance and
// errors have their documented shapes; the server sees new commits at once
// and never stands in a writer's way; the pages and the charting libraries
// come from the binary.
#include <httplib.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "report_fixture.h"
#include "stride/tracker/dashboard.h"

namespace stride::tracker::testing {
namespace {

using nlohmann::json;

class DashboardTest : public StoreTest {
 protected:
  void SetUp() override {
    auto store = open();
    fill_report_store(store);
    // Beside the fixture's four finished trials: a pruned one and a failed one with
    // better values than any finished trial (they must not be ranked), and a running one.
    const int64_t sweep = *store.find_experiment("sweep");
    const auto extra = [&](double lr, TrialStatus status, double best) {
      const int64_t id = store.start_trial(new_trial(
          sweep, {{"train.lr", lr}, {"train.optimizer", "adam"}, {"data.batch_size", 64}, {"model.layers", kLayers}}));
      store.log_metrics(id, epoch_rows(0, best, 1 - best));
      if (status != TrialStatus::running)
        store.finish_trial(id, {status, BestMetric{"val_accuracy", best, 0, std::nullopt}, std::nullopt, "stopped"});
      return id;
    };
    pruned_ = extra(0.1, TrialStatus::pruned, 0.99);
    failed_ = extra(0.1, TrialStatus::failed, 0.98);
    running_ = extra(0.1, TrialStatus::running, 0.5);
    server_ = std::make_unique<dashboard::Server>(db_path(), dashboard::ServerOptions{"127.0.0.1", 0, {}});
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override { server_->stop(); }

  // The answer's status and its body parsed as JSON (null when it is not JSON).
  std::pair<int, json> get(const std::string& path, const httplib::Params& params = {}) {
    auto result = client_->Get(path, params, httplib::Headers{});
    if (!result) return {-1, nullptr};
    return {result->status, json::parse(result->body, nullptr, false)};
  }
  std::string get_text(const std::string& path) {
    auto result = client_->Get(path);
    return result && result->status == 200 ? result->body : "";
  }

  static constexpr const char* kLayers =
      "conv(32,3) relu maxpool(2) conv(64,3) relu maxpool(2) conv(64,3) relu flatten dense(64) relu dense(10)";
  int64_t pruned_ = 0, failed_ = 0, running_ = 0;
  std::unique_ptr<dashboard::Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

std::vector<int64_t> ids_of(const json& trials) {
  std::vector<int64_t> ids;
  for (const auto& t : trials) ids.push_back(t["id"].get<int64_t>());
  return ids;
}

TEST_F(DashboardTest, LeaderboardRanksFinishedTrialsOnly) {
  const auto [status, board] = get("/api/trials", {{"experiment", "sweep"}});
  ASSERT_EQ(status, 200) << board.dump();
  EXPECT_EQ(board["sort"], "best");
  const auto& trials = board["trials"];
  ASSERT_EQ(trials.size(), 7u);
  // By best val_accuracy: 3 (0.95), 4 (0.9), 2 (0.7), 1 (0.6, stopped early); then the running trial; then
  // the pruned and failed ones although their values are higher.
  const std::vector<int64_t> ranked = {3, 4, 2, 1};
  for (size_t r = 0; r < ranked.size(); ++r) {
    EXPECT_EQ(trials[r]["id"], ranked[r]) << "position " << r;
    EXPECT_EQ(trials[r]["rank"], r + 1) << "position " << r;
  }
  EXPECT_EQ(trials[4]["id"], running_);
  for (size_t r = 4; r < trials.size(); ++r) EXPECT_TRUE(trials[r]["rank"].is_null()) << trials[r].dump();
  const auto tail = ids_of(json(std::vector<json>(trials.begin() + 5, trials.end())));
  EXPECT_EQ(std::set<int64_t>(tail.begin(), tail.end()), (std::set<int64_t>{pruned_, failed_}));
  EXPECT_EQ(trials[0]["params"]["model.layers"], "conv(32,3) relu, dense(10)") << "every parameter, unabbreviated";
  EXPECT_DOUBLE_EQ(trials[0]["metrics"]["val_accuracy"].get<double>(), 0.95);
}

TEST_F(DashboardTest, LeaderboardDescribesTheSweptParametersAxes) {
  const auto [status, board] = get("/api/trials", {{"experiment", "sweep"}});
  ASSERT_EQ(status, 200);
  std::map<std::string, json> columns;
  for (const auto& c : board["params"]) columns[c["name"]] = c;
  ASSERT_TRUE(columns.count("train.lr")) << board["params"].dump();
  EXPECT_EQ(columns["train.lr"]["kind"], "number");
  EXPECT_EQ(columns["train.lr"]["scale"], "log") << "0.001 to 0.1 spans 100x";
  EXPECT_EQ(columns["train.optimizer"]["scale"], "category");
  EXPECT_EQ(columns["train.optimizer"]["values"], json({"adam", "sgd"}));
  EXPECT_EQ(columns.count("data.batch_size"), 0u) << "a parameter that never changes is not swept";
  EXPECT_EQ(columns["model.layers"]["kind"], "text");
}

TEST_F(DashboardTest, WhereAndSortRunInTheStore) {
  const auto [status, sgd] = get("/api/trials", {{"experiment", "sweep"}, {"where", "train.optimizer = sgd"}});
  ASSERT_EQ(status, 200) << sgd.dump();
  EXPECT_EQ(ids_of(sgd["trials"]), (std::vector<int64_t>{4, 2}));

  const auto [both_status, both] =
      get("/api/trials", {{"experiment", "sweep"}, {"where", "train.lr < 0.05"}, {"where", "val_accuracy > 0.65"}});
  ASSERT_EQ(both_status, 200) << both.dump();
  EXPECT_EQ(ids_of(both["trials"]), (std::vector<int64_t>{3, 4, 2}));

  const auto [sorted_status, by_loss] = get("/api/trials", {{"experiment", "sweep"}, {"sort", "val_loss"}});
  ASSERT_EQ(sorted_status, 200);
  EXPECT_EQ(by_loss["sort"], "val_loss");
  EXPECT_EQ(by_loss["trials"][0]["id"], 3) << "lowest val_loss among finished trials first";

  const auto [bad_status, bad] = get("/api/trials", {{"experiment", "sweep"}, {"where", "train.lr <"}});
  EXPECT_EQ(bad_status, 400);
  EXPECT_NE(bad["error"].get<std::string>().find("no value"), std::string::npos) << bad.dump();
  const auto [unknown_status, unknown] = get("/api/trials", {{"experiment", "sweeps"}});
  EXPECT_EQ(unknown_status, 400);
  EXPECT_NE(unknown["error"].get<std::string>().find("did you mean 'sweep'"), std::string::npos) << unknown.dump();
}

TEST_F(DashboardTest, TrialHasCurvesEveryDecisionAndTheEvaluation) {
  const auto [status, detail] = get("/api/trial/3");
  ASSERT_EQ(status, 200) << detail.dump();
  EXPECT_EQ(detail["trial"]["id"], 3);
  EXPECT_EQ(detail["trial"]["status"], "completed");
  const auto& curve = detail["curves"]["val_accuracy"];
  ASSERT_EQ(curve.size(), 5u);
  EXPECT_EQ(curve[4][0], 4) << "points are [epoch, value]";
  EXPECT_DOUBLE_EQ(curve[4][1].get<double>(), 0.95);
  EXPECT_EQ(detail["decisions"].size(), 5u) << "one 'keep' per epoch, all of them";
  for (const auto& d : detail["decisions"]) {
    EXPECT_EQ(d["kind"], "keep");
    EXPECT_EQ(d["patience_left"].get<int64_t>(), d["patience"].get<int64_t>() - d["wait"].get<int64_t>());
  }
  ASSERT_EQ(detail["evaluations"].size(), 1u);
  const auto& e = detail["evaluations"][0];
  EXPECT_EQ(e["split"], "test");
  EXPECT_EQ(e["confusion"], json({{19, 1, 0}, {2, 18, 0}, {0, 0, 20}}));
  ASSERT_EQ(e["classes"].size(), 3u);
  EXPECT_EQ(e["classes"][1]["name"], "dog");
  EXPECT_EQ(e["classes"][1]["support"], 20);

  const auto [stopped_status, stopped] = get("/api/trial/1");
  ASSERT_EQ(stopped_status, 200);
  const auto& last = stopped["decisions"].back();
  EXPECT_EQ(last["kind"], "early_stop");
  EXPECT_EQ(last["patience_left"], 0);
  EXPECT_EQ(last["reason"], "no improvement for 2 epochs");
  EXPECT_TRUE(stopped["evaluations"].empty());

  const auto [missing_status, missing] = get("/api/trial/99");
  EXPECT_EQ(missing_status, 404);
  EXPECT_NE(missing["error"].get<std::string>().find("no trial 99"), std::string::npos) << missing.dump();
}

TEST_F(DashboardTest, CurvesOfSeveralTrials) {
  const auto [status, curves] = get("/api/curves", {{"ids", "1,3"}, {"metrics", "val_loss,train_loss"}});
  ASSERT_EQ(status, 200) << curves.dump();
  std::map<std::pair<int64_t, std::string>, size_t> points;
  for (const auto& s : curves["series"]) points[{s["trial"], s["metric"]}] = s["points"].size();
  const std::map<std::pair<int64_t, std::string>, size_t> expected = {
      {{1, "val_loss"}, 3}, {{1, "train_loss"}, 3}, {{3, "val_loss"}, 5}, {{3, "train_loss"}, 5}};
  EXPECT_EQ(points, expected);

  const auto [all_status, all] = get("/api/curves", {{"ids", "2"}});
  ASSERT_EQ(all_status, 200);
  EXPECT_EQ(all["series"].size(), 3u) << "no metrics named: every metric";

  EXPECT_EQ(get("/api/curves", {{"ids", "1,99"}}).first, 404);
  EXPECT_EQ(get("/api/curves", {{"ids", "1,x"}}).first, 400);
  EXPECT_EQ(get("/api/curves").first, 400);
}

TEST_F(DashboardTest, ImportanceOverFinishedTrials) {
  const auto [status, importance] = get("/api/importance", {{"experiment", "sweep"}});
  ASSERT_EQ(status, 200) << importance.dump();
  EXPECT_EQ(importance["objective"], "best val_accuracy");
  EXPECT_EQ(importance["goal"], "max");
  EXPECT_EQ(importance["trials"], 4) << "the pruned, failed and running trials are left out";
  double total = importance["unexplained"].get<double>();
  std::set<std::string> names;
  for (const auto& p : importance["params"]) {
    names.insert(p["name"]);
    total += p["importance"].get<double>();
  }
  EXPECT_EQ(names, (std::set<std::string>{"train.lr", "train.optimizer"})) << importance.dump();
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_FALSE(importance["method"].get<std::string>().empty());

  const auto [metric_status, by_loss] = get("/api/importance", {{"experiment", "sweep"}, {"metric", "val_loss"}});
  ASSERT_EQ(metric_status, 200);
  EXPECT_EQ(by_loss["objective"], "val_loss");
  EXPECT_EQ(by_loss["goal"], "min");
  EXPECT_EQ(get("/api/importance").first, 400);
  EXPECT_EQ(get("/api/importance", {{"experiment", "sweep"}, {"metric", "val_los"}}).first, 400);
}

TEST_F(DashboardTest, ExperimentsAndMarkupStayData) {
  const auto [status, list] = get("/api/experiments");
  ASSERT_EQ(status, 200);
  std::map<std::string, json> by_name;
  for (const auto& e : list["experiments"]) by_name[e["name"]] = e;
  ASSERT_TRUE(by_name.count("sweep"));
  EXPECT_EQ(by_name["sweep"]["trials"], 7);
  EXPECT_EQ(by_name["sweep"]["by_status"]["running"], 1);
  ASSERT_TRUE(by_name.count(kMarkup)) << "names are returned as they are, as JSON strings";
  const auto [markup_status, board] = get("/api/trials", {{"experiment", kMarkup}});
  ASSERT_EQ(markup_status, 200);
  EXPECT_EQ(board["trials"].size(), 2u);
}

TEST_F(DashboardTest, SeesEachCommitAtOnceAndNeverBlocksTheWriter) {
  // The writer gives up after 300 ms of busy database: any lock the server held would fail it.
  StoreOptions impatient;
  impatient.busy_timeout = std::chrono::milliseconds(50);
  impatient.write_retry_limit = std::chrono::milliseconds(300);
  auto writer = Store::open(db_path(), Access::read_write, impatient);
  std::atomic<bool> writing{true};
  std::atomic<int> answers{0};
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", server_->port());
    while (writing) {
      auto r = client.Get("/api/trials?experiment=sweep");
      if (r && r->status == 200) ++answers;
    }
  });
  for (int64_t epoch = 1; epoch <= 30; ++epoch) {
    ASSERT_NO_THROW(writer.log_metrics(running_, epoch_rows(epoch, 0.5 + 0.01 * double(epoch), 0.5)));
    const auto [status, detail] = get("/api/trial/" + std::to_string(running_));
    ASSERT_EQ(status, 200);
    ASSERT_EQ(detail["curves"]["val_accuracy"].size(), size_t(epoch + 1)) << "a stale snapshot after epoch " << epoch;
  }
  writing = false;
  reader.join();
  EXPECT_GT(answers.load(), 0) << "the leaderboard was read while the writer wrote";
}

TEST_F(DashboardTest, PagesAndChartingLibrariesComeFromTheBinary) {
  const std::string index = get_text("/");
  EXPECT_NE(index.find("<script src=\"/assets/chart.min.js\">"), std::string::npos);
  EXPECT_NE(index.find("<script src=\"/assets/d3.min.js\">"), std::string::npos);
  EXPECT_NE(get_text("/trial/3").find("/assets/trial.js"), std::string::npos);
  EXPECT_EQ(get_text("/assets/chart.min.js"), stride::testing::read_text(STRIDE_CHART_JS));
  EXPECT_EQ(get_text("/assets/d3.min.js"), stride::testing::read_text(STRIDE_D3_JS));
  // The pages, scripts and styles of our own name nothing on the network.
  for (const char* asset : {"/", "/trial/1", "/assets/dashboard.css", "/assets/common.js", "/assets/index.js",
                            "/assets/parallel.js", "/assets/trial.js"}) {
    const std::string text = get_text(asset);
    EXPECT_FALSE(text.empty()) << asset;
    EXPECT_EQ(text.find("http://"), std::string::npos) << asset;
    EXPECT_EQ(text.find("https://"), std::string::npos) << asset;
  }
  EXPECT_EQ(get("/assets/nothing.js").first, 404);
  EXPECT_EQ(get("/nothing").first, 404);
}

TEST_F(DashboardTest, ListensOnLoopbackAndRefusesATakenPort) {
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()) + "/");
  EXPECT_EQ(dashboard::ServerOptions{}.host, "127.0.0.1") << "the default exposes nothing to the network";
  try {
    dashboard::Server second(db_path(), dashboard::ServerOptions{"127.0.0.1", server_->port(), {}});
    FAIL() << "a second server bound the same port";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(server_->port())), std::string::npos) << e.what();
  }
  EXPECT_THROW(dashboard::Server(dir_ / "missing.db"), StoreError);
}

TEST_F(DashboardTest, AnswersOnlyRequestsAddressedToLoopback) {
  // A page on another site that rebinds its name to 127.0.0.1 sends its own name as Host.
  for (const std::string host : {"127.0.0.1", "localhost", "[::1]"}) {
    auto answer = client_->Get("/api/experiments", httplib::Headers{{"Host", host + ":1234"}});
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200) << host;
  }
  auto rebound = client_->Get("/api/experiments", httplib::Headers{{"Host", "attacker.example:8050"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_EQ(rebound->body.find("sweep"), std::string::npos) << "nothing of the store in the refusal";
  auto page = client_->Get("/", httplib::Headers{{"Host", "attacker.example"}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 403);
}

}  // namespace
}  // namespace stride::tracker::testing
