// `stride report serve`: a live dashboard over one experiment store. An HTTP
// server (cpp-httplib) answers a small JSON API and serves the pages and the
// charting libraries (Chart.js, d3) compiled into the binary, so a browser
// needs no network. The store is opened read-only; every request runs its
// queries in short read transactions, so training processes writing the
// store (WAL mode) are never blocked and each answer shows the latest commits.
//
// JSON API (every answer an object; an error is {"error": "one line"} with
// status 400 for a bad query, 404 for an unknown trial or path, 503 when the
// store is busy recovering (the next poll retries), 403 for a
// request whose Host is not loopback while the server is bound to loopback):
//   GET /api/experiments                  experiments with trial counts and best
//   GET /api/trials?experiment=&where=&sort=
//                                          the leaderboard: ranked trials, columns
//   GET /api/trial/ID                     one trial: curves, decisions, evaluations
//   GET /api/curves?ids=1,2&metrics=a,b   epoch curves of several trials
//   GET /api/importance?experiment=[&metric=]
//                                          hyperparameter importance (importance.h)
// Pages: / (leaderboard, curves, parallel coordinates, importance) and
// /trial/ID; their scripts and styles under /assets/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "stride/tracker/store.h"

namespace stride::tracker::dashboard {

// ---- the API's answers, built from an open store (public for tests)

struct TrialsRequest {
  std::optional<std::string> experiment{};  // unset: every experiment
  std::optional<std::string> sort{};        // as `report trials --sort`; unset: each trial's best
  std::vector<std::string> where{};         // "name op value", all must hold
};

// Trials that ran to their own end (tracker::is_finished) are ranked; running,
// pruned and failed trials are listed after them, unranked.
using tracker::is_finished;

// {"experiments": [{id, name, trials, by_status{}, best{metric, value, epoch, goal} | null, best_trial,
//   created_at, last_activity}]}
nlohmann::json experiments_json(Store& store);
// {"experiment", "sort", "trials": [trial_json + "rank" (1.. for finished trials by the sort key, else null)],
//  "params": [{name, kind: "number"|"text", scale: "linear"|"log"|"category", values (text kind)}]
//  for the swept parameters, "metrics": [final metric names]}. Throws StoreError for a bad
// where/sort/experiment (the message names it).
nlohmann::json trials_json(Store& store, const TrialsRequest& request);
// {"trial": trial_json + "config", "curves": {metric: [[epoch, value|null], ...]},
//  "decisions": [{epoch, kind, checker, monitor, value, best, wait, patience, patience_left, reason,
//  created_at}], "evaluations": [{split, accuracy, loss, classes: [{name, precision, recall, f1,
//  support}], macro{}, weighted{}, confusion}]}. Throws StoreError naming a missing id.
nlohmann::json trial_detail_json(Store& store, int64_t trial_id);
// {"series": [{trial, metric, points: [[epoch, value|null], ...]}]}, epoch-level points;
// empty `metrics` means every metric. Throws StoreError naming an id the store lacks.
nlohmann::json curves_json(Store& store, std::span<const int64_t> trial_ids, std::span<const std::string> metrics);
// Importance over the experiment's finished trials (is_finished). The objective is
// `metric`'s final value, or unset: each trial's recorded best value of the metric most
// trials record. {"experiment", "objective", "goal", "method", "trials", "variance",
// "params": [{name, importance, levels, binned, aliases}], "unexplained", "note"}.
nlohmann::json importance_json(Store& store, const std::string& experiment, const std::optional<std::string>& metric);

// ---- the server

struct ServerOptions {
  std::string host = "127.0.0.1";  // what to bind; 0.0.0.0 exposes the store to the network
  int port = 8050;                 // 0: any free port
  StoreOptions store{};
};

class Server {
 public:
  // Opens the store read-only (throws StoreError naming the file) and binds the
  // port (throws ConfigError naming host:port when it cannot); connections are
  // accepted from then on, answered once run() or start() is serving.
  Server(const std::filesystem::path& db, const ServerOptions& options = {});
  ~Server();  // stops and joins a start()ed server
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  std::string url() const;  // "http://127.0.0.1:8050/"

  // Serves on the calling thread until stop().
  void run();
  // Serves on a thread of its own (tests); stop() or the destructor ends it.
  void start();
  // Thread-safe; returns once the server no longer accepts requests.
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace stride::tracker::dashboard
