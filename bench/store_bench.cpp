// Experiment-store benchmark: builds a store of T trials x E epochs x M metrics
// through the same Store calls the training loop makes, timing log_metrics
// (one call = one epoch's rows = one transaction), then times the leaderboard
// query `stride report trials` runs (open read-only + render) on it.
//
//   store_bench [--db PATH] [--trials 1000] [--epochs 100] [--metrics 10] [--repeat 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "stride/common/error.h"
#include "stride/tracker/report.h"
#include "stride/tracker/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace stride::tracker;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

struct Options {
  std::string db = "store_bench.db";
  int trials = 1000, epochs = 100, metrics = 10, repeat = 5;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts("usage: store_bench [--db PATH] [--trials N] [--epochs N] [--metrics N] [--repeat N]");
      std::exit(0);
    }
    if (i + 1 >= argc) stride::fail<stride::ConfigError>("{}: missing value", flag);
    const std::string value = argv[++i];
    if (flag == "--db")
      o.db = value;
    else if (flag == "--trials")
      o.trials = std::stoi(value);
    else if (flag == "--epochs")
      o.epochs = std::stoi(value);
    else if (flag == "--metrics")
      o.metrics = std::stoi(value);
    else if (flag == "--repeat")
      o.repeat = std::stoi(value);
    else
      stride::fail<stride::ConfigError>("unknown option {}", flag);
  }
  return o;
}

std::vector<std::string> metric_names(int count) {
  std::vector<std::string> names = {"train_loss",   "train_accuracy",     "val_loss",  "val_accuracy", "lr",
                                    "images_per_s", "data_wait_fraction", "test_loss", "test_accuracy"};
  for (int i = static_cast<int>(names.size()); i < count; ++i) names.push_back(fmt::format("extra_{}", i));
  names.resize(static_cast<size_t>(count));
  return names;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(o.db + suffix);
  const auto names = metric_names(o.metrics);
  const double lrs[] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2};
  const int batches[] = {32, 64, 128, 256};
  const char* optimizers[] = {"adam", "sgd"};

  std::vector<double> log_seconds;
  log_seconds.reserve(static_cast<size_t>(o.trials) * static_cast<size_t>(o.epochs));
  const auto build_start = Clock::now();
  {
    auto store = Store::open(o.db);
    const int64_t experiment = store.ensure_experiment("bench");
    std::vector<MetricRow> rows(names.size());
    for (int t = 0; t < o.trials; ++t) {
      NewTrial trial;
      trial.experiment_id = experiment;
      trial.params = {{"train.lr", lrs[t % 5]},
                      {"data.batch_size", batches[(t / 5) % 4]},
                      {"train.optimizer", optimizers[(t / 20) % 2]},
                      {"model.width", 16 + t / 40},
                      {"trial.index", t}};
      const int64_t id = store.start_trial(trial);
      const double quality = 0.5 + 0.4 * static_cast<double>((t * 7919) % o.trials) / o.trials;
      for (int epoch = 0; epoch < o.epochs; ++epoch) {
        const double progress = static_cast<double>(epoch + 1) / o.epochs;
        for (size_t m = 0; m < names.size(); ++m) {
          const bool loss = names[m].find("loss") != std::string::npos;
          rows[m] = {names[m], epoch, std::nullopt, loss ? 2.0 * (1.0 - quality * progress) : quality * progress, 0};
        }
        const auto start = Clock::now();
        store.log_metrics(id, rows);
        log_seconds.push_back(seconds_since(start));
      }
      const double best = quality;
      store.finish_trial(id,
                         {t % 10 == 0 ? TrialStatus::stopped_early : TrialStatus::completed,
                          BestMetric{"val_accuracy", best, o.epochs - 1, std::nullopt}, std::nullopt, std::nullopt});
    }
  }
  const double build = seconds_since(build_start);
  double total = 0;
  for (double s : log_seconds) total += s;
  fmt::print("store: {} trials x {} epochs x {} metrics = {} metric rows, {:.1f} MB, built in {:.1f} s\n", o.trials,
             o.epochs, o.metrics, static_cast<long long>(o.trials) * o.epochs * o.metrics,
             static_cast<double>(std::filesystem::file_size(o.db)) / 1e6, build);
  fmt::print("log_metrics (one epoch, {} rows, one transaction): mean {:.1f} us, p50 {:.1f} us, p99 {:.1f} us\n",
             o.metrics, 1e6 * total / static_cast<double>(log_seconds.size()), 1e6 * percentile(log_seconds, 0.5),
             1e6 * percentile(log_seconds, 0.99));

  for (const auto format : {stride::TableFormat::text, stride::TableFormat::json}) {
    std::vector<double> times;
    size_t bytes = 0;
    for (int r = 0; r < o.repeat; ++r) {
      const auto start = Clock::now();
      auto store = Store::open(o.db, Access::read_only);
      bytes = report::render_trials(store, {}, format).size();
      times.push_back(seconds_since(start));
    }
    fmt::print("report trials --format {} (open + query + render, {} KB): best {:.1f} ms, median {:.1f} ms\n",
               format == stride::TableFormat::text ? "table" : "json", bytes / 1024,
               1e3 * *std::min_element(times.begin(), times.end()), 1e3 * percentile(times, 0.5));
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "store_bench: error: %s\n", e.what());
  return 1;
}
