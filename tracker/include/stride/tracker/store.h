// The experiment store: one SQLite file (WAL mode) that every trial of every
// experiment writes to and `stride report` reads. Several processes may write
// one store at once: each write is one short IMMEDIATE transaction, retried
// with backoff while another writer holds the lock. Only rank 0 of a
// data-parallel job writes; the other ranks never open the store.
//
// Typical use from the training loop (rank 0):
//   auto store = Store::open("runs/stride.db");
//   const int64_t experiment = store.ensure_experiment("fmnist_lr");
//   const int64_t trial = store.start_trial({experiment, params, world_size, "cuda"});
//   for each epoch: train; store.log_metrics(trial, rows); store.log_decision(trial, d); ...
//   store.finish_trial(trial, {TrialStatus::completed, best, checkpoint});
// A Store is used by one thread at a time; it is movable, not copyable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stride/tracker/query.h"
#include "stride/tracker/records.h"
#include "stride/tracker/sqlite.h"

namespace stride::tracker {

enum class Access { read_only, read_write };

struct StoreOptions {
  // A running trial with no heartbeat for this long is presumed dead.
  std::chrono::seconds heartbeat_grace{120};
  // How long SQLite itself waits for a lock before reporting busy.
  std::chrono::milliseconds busy_timeout{5000};
  // How long one write keeps retrying busy transactions before giving up.
  std::chrono::milliseconds write_retry_limit{std::chrono::minutes(5)};
};

// The result of a successful claim_trial.
struct Claim {
  int64_t trial_id = 0;
  bool reclaimed = false;                        // an existing failed / dead trial, now running again
  std::optional<TrialStatus> previous_status{};  // set when reclaimed
  std::optional<std::string> checkpoint_path{};  // where a reclaimed trial left its checkpoint
};

// One trial's epoch-level value of a metric at one epoch (for pruners).
struct EpochValue {
  int64_t trial_id = 0;
  TrialStatus status = TrialStatus::running;
  double value = 0;
};

class Store {
 public:
  // Opens (read_write: creating it and its parent directories if missing) the
  // store at `path`, migrating an older schema. Throws StoreError naming the
  // file when it is not a Stride store, is newer than this build, or (read-only)
  // does not exist or needs a migration. Marks dead trials failed (read_write).
  static Store open(const std::filesystem::path& path, Access access = Access::read_write, StoreOptions options = {});

  const std::string& path() const { return path_; }
  Access access() const { return access_; }
  int schema_version();
  sqlite3* connection() const { return db_.get(); }

  // ---- experiments
  int64_t ensure_experiment(std::string_view name);
  std::optional<int64_t> find_experiment(std::string_view name);

  // ---- trial lifecycle (read_write)
  // A new trial, status running, heartbeat now.
  int64_t start_trial(const NewTrial& trial);
  // For the grid, in one IMMEDIATE transaction: a new running trial when none has
  // these parameters; the existing one, running again under this process, when it
  // failed by its own error (and retry_failed), or its process died (running with
  // a dead process, or already reaped as failed for that); otherwise
  // nothing (another process runs it, or it finished). Of several processes
  // claiming one parameter set at once, exactly one gets it.
  std::optional<Claim> claim_trial(const NewTrial& trial, bool retry_failed);
  // The latest trial of the experiment with this parameter hash.
  std::optional<TrialRecord> find_trial(int64_t experiment_id, std::string_view param_hash);
  // Running again under pid@host, continuing after `from_epoch` (the checkpoint's
  // epoch): metrics and decisions of later epochs are deleted so the resumed run
  // re-logs them once. from_epoch = -1 deletes all of them. It counts as a new
  // attempt unless this process already runs the trial (it claimed it).
  void resume_trial(int64_t trial_id, int64_t from_epoch, int64_t pid = 0, std::string_view host = {});
  // A sign of life. Revives the trial if a reader presumed it dead while this
  // process was still working; throws StoreError if another process has since
  // claimed it (this process must stop).
  void heartbeat(int64_t trial_id);
  void set_best(int64_t trial_id, const BestMetric& best);
  void set_checkpoint(int64_t trial_id, std::string_view path);
  void finish_trial(int64_t trial_id, const TrialOutcome& outcome);

  // ---- results (read_write); each call is one transaction and refreshes the heartbeat
  void log_metrics(int64_t trial_id, std::span<const MetricRow> rows);
  void log_decision(int64_t trial_id, const Decision& decision);
  void log_decisions(int64_t trial_id, std::span<const Decision> decisions);
  // Replaces an earlier evaluation of the same split.
  void log_evaluation(int64_t trial_id, const Evaluation& evaluation);

  // ---- liveness
  // Running trials whose heartbeat is older than the grace period, or whose
  // process on this host is gone (or its pid now belongs to another process),
  // are marked failed. A read-only store cannot write: it remembers them and
  // reports them as failed. Returns the ids found dead.
  std::vector<int64_t> reap_dead_trials();

  // ---- queries (either access)
  std::vector<ExperimentSummary> experiments();
  std::vector<TrialRecord> trials(const TrialQuery& query = {});
  TrialRecord trial(int64_t trial_id);  // throws StoreError naming the id when missing
  // Epoch-level points (and, with_steps, the in-epoch ones) per (trial, name);
  // empty `names` means every metric.
  std::vector<MetricSeries> metric_series(std::span<const int64_t> trial_ids, std::span<const std::string> names = {},
                                          bool with_steps = false);
  std::vector<EpochValue> metric_at_epoch(int64_t experiment_id, std::string_view metric, int64_t epoch);
  std::vector<DecisionRecord> decisions(const DecisionQuery& query = {});
  std::vector<Evaluation> evaluations(int64_t trial_id);
  std::vector<std::string> param_names(std::optional<std::string_view> experiment = std::nullopt);
  std::vector<std::string> metric_names(std::optional<std::string_view> experiment = std::nullopt);

 private:
  Store(sqlite::Connection db, std::string path, Access access, StoreOptions options);

  template <typename Body>
  auto write(Body&& body) {
    require_writable();
    return sqlite::with_write_transaction(db_.get(), options_.write_retry_limit, std::forward<Body>(body));
  }
  void require_writable() const;
  void require_trial(int64_t trial_id);
  void insert_params(int64_t trial_id, const Params& params);
  void touch(int64_t trial_id, double now);
  // Applies what a read-only store found dead to the records it returns.
  void apply_presumed_dead(TrialRecord& record) const;
  void apply_presumed_dead(ExperimentSummary& summary) const;

  sqlite::Connection db_;
  std::string path_;
  Access access_;
  StoreOptions options_;
  std::string host_;
  struct PresumedDead {
    int64_t experiment_id = 0;
    std::string reason;
  };
  std::map<int64_t, PresumedDead> presumed_dead_;  // read-only: running trials found dead, by id
};

}  // namespace stride::tracker
