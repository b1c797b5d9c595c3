// `stride grid --config FILE [--db PATH] [--retry-failed]`: every point of
// the config's [grid] as one trial of its experiment. The store decides who
// runs what (an atomic claim per parameter hash), so a rerun skips finished
// trials and resumes interrupted ones from their checkpoints, and under
// `mpirun -np N` the N ranks take trials from the grid without ever running
// the same one twice. Rank 0 prints the leaderboard once every trial is done.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "cli.h"
#include "run/pruners.h"
#include "run/train_context.h"
#include "run/trainer.h"
#include "stride/common/error.h"
#include "stride/common/log.h"
#include "stride/common/strings.h"
#include "stride/distributed/communicator.h"
#include "stride/tracker/report.h"
#include "stride/tracker/store.h"

namespace stride::tools {

namespace {

// The product of the axes, first axis slowest.
std::vector<Config> grid_points(const Config& base) {
  std::vector<Config> points = {base};
  for (const GridAxis& axis : base.grid()) {
    std::vector<Config> next;
    for (const Config& point : points)
      for (const std::string& value : axis.values) {
        Config c = point;
        c.set(axis.key, value, "[grid]");
        next.push_back(std::move(c));
      }
    points = std::move(next);
  }
  return points;
}

PrunerConfig pruner_config(const Config& config) {
  const auto& options = config.grid_options();
  const auto get = [&](const char* key, const std::string& fallback) {
    const auto it = options.find(key);
    return it == options.end() ? fallback : it->second;
  };
  PrunerConfig p;
  p.kind = get("pruner", "none");
  if (p.kind != "none" && p.kind != "median" && p.kind != "asha")
    fail<ConfigError>("{}: grid.pruner: expected none, median or asha, got '{}'", config.file().string(), p.kind);
  p.metric = get("metric", "val_accuracy");
  p.mode = parse_monitor_mode(get("mode", "auto"), p.metric);
  p.n_startup_trials = parse_int(get("n_startup_trials", "5"), "grid.n_startup_trials");
  p.n_warmup_epochs = parse_int(get("n_warmup_epochs", "0"), "grid.n_warmup_epochs");
  p.min_epochs = parse_int(get("min_epochs", "1"), "grid.min_epochs");
  p.reduction_factor = parse_int(get("reduction_factor", "3"), "grid.reduction_factor");
  if (p.min_epochs < 1 || p.reduction_factor < 2)
    fail<ConfigError>("grid: min_epochs must be >= 1 and reduction_factor >= 2");
  return p;
}

// The pruner, asking the grid's store for the other trials' values at this epoch.
PruneCheck make_pruner(const PrunerConfig& config, tracker::Store& store, int64_t experiment_id,
                       const std::string& experiment) {
  if (config.kind == "none") return nullptr;
  return [config, &store, experiment_id, experiment](int64_t trial_id, int64_t epoch, double value) {
    std::vector<PeerValue> peers;
    for (const tracker::EpochValue& v : store.metric_at_epoch(experiment_id, config.metric, epoch)) {
      if (v.trial_id == trial_id) continue;
      peers.push_back({v.trial_id, tracker::is_finished(v.status), v.value});
    }
    if (config.kind == "asha") return asha_prune(config, epoch, value, peers);
    // This trial's history: the store's rows of earlier epochs, then this one.
    std::vector<double> history;
    const std::vector<int64_t> ids = {trial_id};
    const std::vector<std::string> names = {config.metric};
    for (const auto& series : store.metric_series(ids, names))
      for (const auto& point : series.points)
        if (point.epoch < epoch) history.push_back(point.value);
    history.push_back(value);
    int64_t completed = 0;
    tracker::TrialQuery query;
    query.experiment = experiment;
    for (const auto& t : store.trials(query)) completed += tracker::is_finished(t.status);
    return median_prune(config, epoch, history, peers, completed);
  };
}

// Before any trial is claimed, every value of every [grid] line is built
// (data, model, optimizer, callbacks) in some point: a bad value leaves the
// store untouched. Points k = 0, 1, ... take value k of each line (wrapping),
// so as many points as the longest line cover them all, whatever the size of
// the product.
void check_grid_values(const Config& base, const std::string& db) {
  size_t longest = 0;
  for (const GridAxis& axis : base.grid()) longest = std::max(longest, axis.values.size());
  for (size_t k = 0; k < longest; ++k) {
    TrainRequest check;
    check.config = base;
    std::vector<std::string> chosen;
    for (const GridAxis& axis : base.grid()) {
      const std::string& value = axis.values[k % axis.values.size()];
      check.config.set(axis.key, value, "[grid]");
      chosen.push_back(fmt::format("{} = {}", axis.key, value));
    }
    check.db_path = db;  // never opened: init_from = best:EXPERIMENT may read it
    check.validate_only = true;
    try {
      train(check);
    } catch (const Error& e) {
      fail<ConfigError>("{}: [grid] point ({}): {}", base.file().string(), join(chosen, ", "), e.what());
    }
  }
}

// Rank 0, once its own claims are done: waits until no trial of the grid runs
// (other ranks may still be training; a trial whose process died is reaped by
// the store's reads), prints the leaderboard and the best finished trial, and
// returns non-zero when a point of the grid failed.
int report_grid(tracker::Store& store, const Config& base, const std::vector<Config>& points, int64_t experiment_id,
                int ranks_per_trial) {
  const std::string experiment = base.text("experiment.name");
  std::vector<std::string> hashes;
  for (const Config& point : points) hashes.push_back(tracker::param_hash(trial_identity(point, ranks_per_trial)));
  std::vector<tracker::TrialRecord> outcome;
  for (bool first = true;; first = false) {
    if (!first) std::this_thread::sleep_for(std::chrono::seconds(2));
    store.reap_dead_trials();
    outcome.clear();
    for (const std::string& hash : hashes)
      if (auto trial = store.find_trial(experiment_id, hash)) outcome.push_back(std::move(*trial));
    if (std::none_of(outcome.begin(), outcome.end(),
                     [](const auto& t) { return t.status == tracker::TrialStatus::running; }))
      break;
  }
  tracker::report::TrialsOptions options;
  options.experiment = experiment;
  fmt::print("{}", tracker::report::render_trials(store, options, TableFormat::text));
  const auto board = tracker::report::leaderboard(store, options);
  const auto best = std::find_if(board.trials.begin(), board.trials.end(),
                                 [](const tracker::TrialRecord& t) { return tracker::is_finished(t.status); });
  if (best != board.trials.end()) {
    fmt::print("\nbest: trial {} ({})", best->id, tracker::status_name(best->status));
    if (best->best) fmt::print(", {} {:.4f} at epoch {}", best->best->metric, best->best->value, best->best->epoch);
    fmt::print("\n");
    for (const GridAxis& axis : base.grid())
      if (const auto it = best->params.find(axis.key); it != best->params.end())
        fmt::print("  {} = {}\n", axis.key, it->second.to_string());
    if (best->checkpoint_path) fmt::print("checkpoint: {}\n", *best->checkpoint_path);
  } else {
    fmt::print("\nbest: none (no trial of the grid finished)\n");
  }
  std::vector<std::string> unfinished;
  for (const auto& t : outcome)
    if (t.status == tracker::TrialStatus::failed)
      unfinished.push_back(fmt::format("trial {} failed: {}", t.id, t.error.value_or("no error recorded")));
  if (outcome.size() < points.size())
    unfinished.push_back(fmt::format("{} points have no trial", points.size() - outcome.size()));
  if (unfinished.empty()) return 0;
  spdlog::error(
      "{}: grid of {} points for experiment '{}' did not finish ({}); `stride grid --retry-failed` runs "
      "the failed ones again",
      store.path(), points.size(), experiment, join(unfinished, "; "));
  return 1;
}

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

}  // namespace

int run_grid(const Args& args) {
  CommandLine command;
  command.usage = "stride grid --config FILE [--set section.key=value]... [--db PATH] [--retry-failed]";
  command.summary =
      "Runs every point of the config's [grid] (the product of its value lists) as a trial. Rerunning skips\n"
      "finished trials and resumes interrupted ones; under `mpirun -np N` the ranks share out the trials.";
  std::vector<std::string> overrides;
  std::string config_path, db;
  int64_t ranks_per_trial = 1;
  command.options.add_options()("config,c", po::value(&config_path)->required(),
                                "experiment config (INI) with a [grid] section")(
      "set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")(
      "db", po::value(&db)->default_value("runs/stride.db"), "experiment store (SQLite)")(
      "retry-failed", po::bool_switch(), "run again the trials that failed")(
      "ranks-per-trial", po::value(&ranks_per_trial)->default_value(1),
      "ranks training each trial data-parallel (under mpirun; must divide the ranks)")(
      "no-progress", po::bool_switch(), "plain log lines instead of progress bars");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const Config base = Config::load(config_path, overrides);
  if (base.grid().empty()) fail<ConfigError>("{}: has no [grid] section to sweep", config_path);
  // The config's grid.ranks_per_trial unless the command line says otherwise.
  if (const auto it = base.grid_options().find("ranks_per_trial");
      it != base.grid_options().end() && (*vm)["ranks-per-trial"].defaulted())
    ranks_per_trial = parse_int(it->second, "grid.ranks_per_trial");
  if (ranks_per_trial < 1) fail<ConfigError>("--ranks-per-trial {}: must be at least 1", ranks_per_trial);
  const std::string experiment = base.text("experiment.name");
  const PrunerConfig pruner = pruner_config(base);
  const std::vector<Config> points = grid_points(base);

  // With one rank per trial, ranks are independent: each claims whole trials
  // from the store. With K, the job splits into groups of K ranks; a group's
  // leader claims a trial and the group trains it data-parallel.
  std::unique_ptr<Communicator> world, group;
  int rank = env_int("OMPI_COMM_WORLD_RANK", env_int("PMI_RANK", 0));
  if (ranks_per_trial > 1) {
    CommunicatorOptions options = communicator_options_from_env();
    options.timeout_s = base.real("train.collective_timeout");
    world = make_communicator(CommunicatorKind::automatic, options);
    if (world->size() % ranks_per_trial != 0)
      fail<ConfigError>("--ranks-per-trial {}: does not divide the {} ranks of the job", ranks_per_trial,
                        world->size());
    rank = world->rank();
    group = world->split(static_cast<int>(rank / ranks_per_trial));
  }
  const bool claims = !group || group->rank() == 0;
  init_logging(claims ? 0 : 1);
  check_grid_values(base, db);  // every rank: in a group, all stop alike
  if (rank == 0)
    spdlog::info("grid of {} trials for experiment '{}'{}", points.size(), experiment,
                 group ? fmt::format(", {} ranks per trial", ranks_per_trial) : "");

  // One store for the whole job, opened once every point has built: the
  // claims, every trial's writes, the pruner's questions and the wait below
  // all go through this connection. Ranks that only follow a leader need none.
  std::optional<tracker::Store> store;
  int64_t experiment_id = 0;
  if (claims) {
    store.emplace(tracker::Store::open(db));
    experiment_id = store->ensure_experiment(experiment);
  }
  size_t next_point = 0;
  for (;;) {
    int64_t claimed[2] = {-1, 0};  // grid point, trial id
    for (; claims && next_point < points.size(); ++next_point) {
      tracker::NewTrial trial;
      trial.experiment_id = experiment_id;
      trial.params = trial_params(points[next_point], static_cast<int>(ranks_per_trial));
      trial.identity = trial_identity(points[next_point], static_cast<int>(ranks_per_trial));
      trial.world_size = ranks_per_trial;
      trial.device = points[next_point].text("train.device");
      trial.config_text = points[next_point].to_ini();
      if (const auto claim = store->claim_trial(trial, (*vm)["retry-failed"].as<bool>())) {
        claimed[0] = static_cast<int64_t>(next_point++);
        claimed[1] = claim->trial_id;
        spdlog::info("[rank {}] grid point {}/{}: trial {}{}", rank, claimed[0] + 1, points.size(), claim->trial_id,
                     claim->reclaimed ? " (resumed)" : "");
        break;
      }
    }
    if (group) group->broadcast_bytes(claimed, sizeof claimed, 0);
    if (claimed[0] < 0) break;
    TrainRequest request;
    request.config = points[static_cast<size_t>(claimed[0])];
    request.db_path = db;
    request.store = store ? &*store : nullptr;
    request.trial_id = claimed[1];
    request.communicator = group.get();
    request.progress_on_terminal = !(*vm)["no-progress"].as<bool>();
    if (store) request.prune = make_pruner(pruner, *store, experiment_id, experiment);
    if (request.prune)
      request.prune = [check = request.prune, epochs = request.config.integer("train.epochs")](
                          int64_t trial_id, int64_t epoch, double value) {
        return spare_last_epoch(check(trial_id, epoch, value), epochs);
      };
    request.prune_metric = pruner.metric;
    try {
      const TrainResult result = train(request);
      if (claims)
        spdlog::info("[rank {}] trial {} {} after {} epochs", rank, result.trial_id,
                     tracker::status_name(result.status), result.epochs);
    } catch (const std::exception& e) {
      // Alone, a rank marks the trial failed (the trainer did) and goes on; in
      // a group, the others are waiting in a collective: end the job.
      if (group) group->abort(fmt::format("rank {}: trial {}: {}", rank, claimed[1], e.what()));
      spdlog::error("[rank {}] trial {} failed: {}", rank, claimed[1], e.what());
    }
  }
  if (rank != 0) return 0;
  return report_grid(*store, base, points, experiment_id, static_cast<int>(ranks_per_trial));
}

}  // namespace stride::tools
