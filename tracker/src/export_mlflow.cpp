// The store as an MLflow FileStore ("mlruns"): DIR/ID/meta.yaml per
// experiment (ID: Stride's experiment id), DIR/ID/RUN/{meta.yaml, params/,
// metrics/, tags/, artifacts/} per trial, as mlflow/store/tracking/file_store.py
// lays it out. Run ids are derived from the trial (experiment, id, start time,
// parameter hash), so a rerun rewrites the same runs. YAML goes through
// yaml-cpp with every string double-quoted ("1" stays a string).
#include <yaml-cpp/yaml.h>

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "export_util.h"
#include "stride/common/error.h"
#include "stride/tracker/params.h"

namespace stride::tracker {
namespace fs = std::filesystem;
using exporting::safe_file_name;

namespace {

// mlflow.entities.RunStatus
constexpr int kRunning = 1, kFinished = 3, kFailed = 4, kKilled = 5;

int run_status(TrialStatus status) {
  switch (status) {
    case TrialStatus::running:
      return kRunning;
    case TrialStatus::completed:
    case TrialStatus::stopped_early:
      return kFinished;
    case TrialStatus::pruned:
      return kKilled;
    case TrialStatus::failed:
      return kFailed;
  }
  return kFailed;
}

int64_t millis(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000)); }

std::string file_uri(const fs::path& path) { return "file://" + fs::absolute(path).lexically_normal().string(); }

std::string run_id(const TrialRecord& t) {
  return sha256_hex(fmt::format("stride trial\n{}\n{}\n{:.6f}\n{}", t.experiment, t.id, t.started_at, t.param_hash))
      .substr(0, 32);
}

// MLflow names: letters, digits, '_', '-', '.', ' ', ':' (and '/', which here
// would make directories): anything else becomes '_'.
std::string mlflow_name(std::string_view name) { return safe_file_name(name); }

std::string experiment_meta(const ExperimentSummary& e, const fs::path& dir) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "artifact_location" << YAML::Value << YAML::DoubleQuoted << file_uri(dir);
  out << YAML::Key << "creation_time" << YAML::Value << millis(e.created_at);
  out << YAML::Key << "experiment_id" << YAML::Value << YAML::DoubleQuoted << std::to_string(e.id);
  out << YAML::Key << "last_update_time" << YAML::Value << millis(e.last_activity.value_or(e.created_at));
  out << YAML::Key << "lifecycle_stage" << YAML::Value << YAML::DoubleQuoted << "active";
  out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << e.name;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string default_experiment_meta(const fs::path& dir) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "artifact_location" << YAML::Value << YAML::DoubleQuoted << file_uri(dir);
  out << YAML::Key << "creation_time" << YAML::Value << millis(now_seconds());
  out << YAML::Key << "experiment_id" << YAML::Value << YAML::DoubleQuoted << "0";
  out << YAML::Key << "last_update_time" << YAML::Value << millis(now_seconds());
  out << YAML::Key << "lifecycle_stage" << YAML::Value << YAML::DoubleQuoted << "active";
  out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << "Default";
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string run_meta(const TrialRecord& t, const std::string& id, const fs::path& run_dir) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "artifact_uri" << YAML::Value << YAML::DoubleQuoted << file_uri(run_dir / "artifacts");
  out << YAML::Key << "end_time" << YAML::Value;
  if (t.ended_at)
    out << millis(*t.ended_at);
  else
    out << YAML::Null;
  out << YAML::Key << "entry_point_name" << YAML::Value << YAML::DoubleQuoted << "";
  out << YAML::Key << "experiment_id" << YAML::Value << YAML::DoubleQuoted << std::to_string(t.experiment_id);
  out << YAML::Key << "lifecycle_stage" << YAML::Value << YAML::DoubleQuoted << "active";
  out << YAML::Key << "run_id" << YAML::Value << YAML::DoubleQuoted << id;
  out << YAML::Key << "run_name" << YAML::Value << YAML::DoubleQuoted << fmt::format("trial-{}", t.id);
  out << YAML::Key << "run_uuid" << YAML::Value << YAML::DoubleQuoted << id;
  out << YAML::Key << "source_name" << YAML::Value << YAML::DoubleQuoted << "";
  out << YAML::Key << "source_type" << YAML::Value << 4;  // SourceType.LOCAL
  out << YAML::Key << "source_version" << YAML::Value << YAML::DoubleQuoted << "";
  out << YAML::Key << "start_time" << YAML::Value << millis(t.started_at);
  out << YAML::Key << "status" << YAML::Value << run_status(t.status);
  out << YAML::Key << "tags" << YAML::Value << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  out << YAML::Key << "user_id" << YAML::Value << YAML::DoubleQuoted << "stride";
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string metric_value(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return fmt::format("{}", value);
}

// An experiment directory is ours to write when it is new or an earlier export made it.
void check_experiment_dir(const fs::path& experiment_dir, const ExperimentSummary& e) {
  const fs::path meta = experiment_dir / "meta.yaml";
  if (!fs::exists(experiment_dir)) return;
  std::string name;
  try {
    if (fs::exists(meta)) name = YAML::LoadFile(meta.string())["name"].as<std::string>("");
  } catch (const YAML::Exception& error) {
    fail<Error>("{}: not readable as MLflow experiment metadata ({}); export into another directory", meta.string(),
                error.what());
  }
  if (!fs::exists(experiment_dir / "tags" / "stride.experiment") || name != e.name)
    fail<Error>(
        "{}: holds MLflow experiment '{}', not one exported from Stride experiment '{}'; export into an empty "
        "directory or one an earlier `stride report export --format mlflow` wrote",
        experiment_dir.string(), name, e.name);
}

void stage_run(const exporting::ExportedTrial& trial, const std::string& id, const fs::path& staged,
               const fs::path& final_dir, Store& store, ExportSummary& summary) {
  const TrialRecord& t = trial.record;
  exporting::write_file(staged / "meta.yaml", run_meta(t, id, final_dir));
  for (const auto& [name, value] : t.params)
    exporting::write_file(staged / "params" / mlflow_name(name), value.to_string());
  for (const MetricSeries& series : trial.curves) {
    std::string lines;
    for (const MetricPoint& p : series.points) {
      lines += fmt::format("{} {} {}\n", millis(p.wall_time), metric_value(p.value), p.epoch);
      ++summary.metric_points;
    }
    if (!lines.empty()) exporting::write_file(staged / "metrics" / mlflow_name(series.name), lines);
  }
  std::vector<std::pair<std::string, std::string>> tags = {
      {"mlflow.runName", fmt::format("trial-{}", t.id)},
      {"mlflow.user", "stride"},
      {"stride.trial_id", std::to_string(t.id)},
      {"stride.status", std::string(status_name(t.status))},
      {"stride.param_hash", t.param_hash},
      {"stride.host", t.host},
      {"stride.device", t.device},
      {"stride.world_size", std::to_string(t.world_size)},
      {"stride.attempts", std::to_string(t.attempts)},
      {"stride.epochs", std::to_string(t.epochs)},
  };
  if (const auto it = t.params.find("stride.commit"); it != t.params.end()) {
    std::string commit = it->second.to_string();
    if (const auto plus = commit.find('+'); plus != std::string::npos) commit.resize(plus);
    if (commit != "unknown") tags.emplace_back("mlflow.source.git.commit", commit);
  }
  if (t.checkpoint_path) tags.emplace_back("stride.checkpoint", *t.checkpoint_path);
  if (t.error) tags.emplace_back("stride.error", *t.error);
  if (t.best) {
    tags.emplace_back("stride.best_metric", t.best->metric);
    tags.emplace_back("stride.best_value", metric_value(t.best->value));
    tags.emplace_back("stride.best_epoch", std::to_string(t.best->epoch));
  }
  for (const auto& [name, value] : tags) exporting::write_file(staged / "tags" / name, value);
  // Artifacts: the config the trial ran with, and its evaluations.
  exporting::write_file(staged / "artifacts" / "config.ini", t.config_text);
  for (const Evaluation& e : store.evaluations(t.id)) {
    nlohmann::json classes = nlohmann::json::array();
    for (const ClassReport& c : e.classes)
      classes.push_back(
          {{"name", c.name}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}, {"support", c.support}});
    const nlohmann::json j = {{"split", e.split},
                              {"accuracy", e.accuracy},
                              {"loss", e.loss ? nlohmann::json(*e.loss) : nlohmann::json(nullptr)},
                              {"classes", classes},
                              {"confusion", e.confusion}};
    exporting::write_file(staged / "artifacts" / fmt::format("evaluation-{}.json", safe_file_name(e.split)),
                          j.dump(2) + "\n");
  }
}

}  // namespace

ExportSummary export_mlflow(Store& store, const fs::path& dir, const ExportOptions& options) {
  const auto experiments = exporting::read_experiments(store, options);
  if (fs::exists(dir) && !fs::is_directory(dir)) fail<Error>("{}: exists and is not a directory", dir.string());
  exporting::Staging staging(dir);
  ExportSummary summary;
  // What a FileStore root has: the trash folder and the Default experiment.
  fs::create_directories(dir / ".trash");
  if (!fs::exists(dir / "0")) {
    exporting::write_file(staging.path() / "0" / "meta.yaml", default_experiment_meta(dir / "0"));
    staging.replace(staging.path() / "0", dir / "0");
  }
  for (const auto& experiment : experiments) {
    const ExperimentSummary& e = experiment.summary;
    const fs::path experiment_dir = dir / std::to_string(e.id);
    check_experiment_dir(experiment_dir, e);
    fs::create_directories(experiment_dir);
    const fs::path staged_meta = staging.path() / fmt::format("meta-{}.yaml", e.id);
    exporting::write_file(staged_meta, experiment_meta(e, experiment_dir));
    exporting::write_file(staging.path() / fmt::format("tag-{}", e.id), e.name);
    exporting::write_file(staging.path() / fmt::format("store-{}", e.id), fs::absolute(store.path()).string());
    staging.replace(staging.path() / fmt::format("tag-{}", e.id), experiment_dir / "tags" / "stride.experiment");
    staging.replace(staging.path() / fmt::format("store-{}", e.id), experiment_dir / "tags" / "stride.store");
    staging.replace(staged_meta, experiment_dir / "meta.yaml");
    for (const auto& trial : experiment.trials) {
      const std::string id = run_id(trial.record);
      const fs::path staged = staging.path() / id;
      stage_run(trial, id, staged, experiment_dir / id, store, summary);
      staging.replace(staged, experiment_dir / id);
      ++summary.trials;
    }
    ++summary.experiments;
  }
  return summary;
}

}  // namespace stride::tracker
