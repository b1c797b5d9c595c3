// `stride report serve` end to end: the built binary serves a store that a
// `stride grid` started in the background writes, and a headless Chromium
// (driven over the DevTools protocol by dashboard_browser.py) opens the page
// before the grid starts, then sees the grid's trials appear, run and finish
// and the overlaid curves grow, all within one page load (skipped without
// chromium or python3). SIGTERM stops the server cleanly; bad arguments fail
// with one line.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "process.h"
#include "stride/tracker/dashboard.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// One line per refresh the page made, for failure messages.
std::string describe(const nlohmann::json& seen) {
  if (!seen.is_array()) return "(the browser printed no observations)\n";
  std::string text;
  for (const auto& c : seen)
    text += fmt::format("refresh {}: {} trials, {} running, {} ranked, {} curve points\n", c["refreshes"].dump(),
                        c["trials"].dump(), c["running"].dump(), c["finished"].dump(), c["points"].dump());
  return text;
}

class DashboardEndToEnd : public ::testing::Test {
 protected:
  void write_grid() {
    testing::write_synthetic_dataset(dir_ / "data",
                                     {.train = 4096, .val = 128, .test = 128, .height = 16, .width = 16});
    std::ofstream config(dir_ / "grid.ini");
    config << "[experiment]\nname = live\nseed = 3\n[data]\ndir = " << (dir_ / "data").string()
           << "\nbatch_size = 32\nworkers = 1\n[model]\nlayers = conv(8,3) relu maxpool(2) flatten dense(4)\n"
              "[train]\nepochs = 6\nthreads = 1\ncheckpoint_dir = "
           << (dir_ / "ckpt").string()
           << "\n[early_stopping]\nmonitor = val_loss\npatience = 10\n"  // a best value that differs per trial
              "[grid]\ntrain.lr = 0.00003, 0.0003, 0.003\n";
  }

  // Waits for the server's "serving ... at URL" line in its log.
  std::string wait_for_url(const std::filesystem::path& log) const {
    const std::regex pattern(R"(http://127\.0\.0\.1:\d+/)");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string text = testing::read_text(log);
      if (std::regex_search(text, match, pattern)) return match.str();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling period, with a deadline
    }
    return "";
  }

  testing::TempDir dir_;
};

TEST_F(DashboardEndToEnd, PageFollowsARunningGrid) {
  if (!on_path("chromium")) GTEST_SKIP() << "no chromium installed (tools/setup.sh test installs it)";
  if (!on_path("python3")) GTEST_SKIP() << "no python3 installed (tools/setup.sh test installs it)";
  write_grid();
  const auto db = dir_ / "store.db";
  tracker::Store::open(db);  // an empty store, so the server can open it before the grid starts
  const pid_t server = testing::spawn_process({STRIDE_BINARY, "report", "serve", "--db", db.string(), "--port", "0"},
                                              dir_ / "serve.log");
  ASSERT_GT(server, 0);
  const std::string url = wait_for_url(dir_ / "serve.log");
  ASSERT_FALSE(url.empty()) << "the server printed no address:\n" << testing::read_text(dir_ / "serve.log");

  const std::string command = fmt::format("python3 {} watch chromium {} 3 2>{}", quote(STRIDE_DASHBOARD_BROWSER),
                                          quote(url + "?refresh=100"), quote((dir_ / "browser.log").string()));
  FILE* browser = ::popen(command.c_str(), "r");
  ASSERT_NE(browser, nullptr);
  char line[1 << 16];
  const bool ready = std::fgets(line, sizeof line, browser) != nullptr && std::string(line) == "ready\n";
  pid_t grid = -1;
  if (ready)
    grid = testing::spawn_process(
        {STRIDE_BINARY, "grid", "--config", (dir_ / "grid.ini").string(), "--db", db.string(), "--no-progress"},
        dir_ / "grid.log");
  std::string output;
  while (std::fgets(line, sizeof line, browser) != nullptr) output += line;
  const int browser_status = ::pclose(browser);
  const int grid_exit = testing::wait_exit(grid);
  kill(server, SIGTERM);
  const int server_exit = testing::wait_exit(server);

  ASSERT_TRUE(ready) << "the page never loaded: " << testing::read_text(dir_ / "browser.log");
  ASSERT_EQ(grid_exit, 0) << testing::read_text(dir_ / "grid.log");
  ASSERT_EQ(WIFEXITED(browser_status) ? WEXITSTATUS(browser_status) : -1, 0)
      << testing::read_text(dir_ / "browser.log") << describe(nlohmann::json::parse(output, nullptr, false));
  EXPECT_EQ(server_exit, 0) << "SIGTERM stops the server cleanly:\n" << testing::read_text(dir_ / "serve.log");

  const auto seen = nlohmann::json::parse(output);
  ASSERT_GE(seen.size(), 2u) << output;
  const std::string refreshes = describe(seen);
  EXPECT_EQ(seen.front()["trials"], 0) << "the page was open before the grid wrote anything";
  bool saw_running = false, grew = false;
  int64_t first_points = 0;
  for (const auto& counts : seen) {
    saw_running = saw_running || counts["running"].get<int>() > 0;
    const int64_t points = counts["points"];
    if (first_points == 0) first_points = points;
    grew = grew || (first_points > 0 && points > first_points);
  }
  EXPECT_TRUE(saw_running) << "no refresh showed a running trial:\n" << refreshes;
  EXPECT_TRUE(grew) << "the curves never grew after they first appeared:\n" << refreshes;
  const auto& last = seen.back();
  EXPECT_EQ(last["trials"], 3);
  EXPECT_EQ(last["curve_trials"], 3) << "the five best are overlaid by default";
  EXPECT_EQ(last["lines"], 3) << "one parallel-coordinates line per ranked trial";
  EXPECT_EQ(last["log_axes"], "train.lr") << "lr from 1e-4 to 1e-2 gets a log axis";
  EXPECT_GE(last["importance"].get<int>(), 1);
}

TEST_F(DashboardEndToEnd, BadServeArgumentsFailWithOneLine) {
  const auto db = dir_ / "store.db";
  tracker::Store::open(db);
  tracker::dashboard::Server taken(db, {"127.0.0.1", 0, {}});
  struct Case {
    std::vector<std::string> arguments;
    std::string expected;
  };
  for (const auto& c : {Case{{"--port", "70000"}, "--port 70000"},
                        Case{{"--port", std::to_string(taken.port())}, std::to_string(taken.port())},
                        Case{{"--host", "192.0.2.1"}, "192.0.2.1"}, Case{{"3"}, "positional"}}) {
    std::vector<std::string> args = {STRIDE_BINARY, "report", "serve", "--db", db.string()};
    args.insert(args.end(), c.arguments.begin(), c.arguments.end());
    const auto log = dir_ / "serve.log";
    std::filesystem::remove(log);
    EXPECT_NE(testing::run_process(args, log), 0) << c.expected;
    const std::string output = testing::read_text(log);
    EXPECT_NE(output.find(c.expected), std::string::npos) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  }
  const auto missing = dir_ / "missing.db";
  EXPECT_NE(testing::run_process({STRIDE_BINARY, "report", "serve", "--db", missing.string()}, dir_ / "missing.log"), 0);
  EXPECT_NE(testing::read_text(dir_ / "missing.log").find("missing.db"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(missing)) << "serving never creates a store";
}

}  // namespace
}  // namespace stride::tools
