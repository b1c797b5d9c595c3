// TrainContext: trial lifecycle, checkpoints and resumption around the loop.
#include "train_context.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <thread>

#include "build_info.h"
#include "checkpoint_ref.h"
#include "session.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride::tools {

tracker::Params trial_params(const Config& config, int world) {
  tracker::Params params = config.params();
  params.merge(trial_identity(config, world));
  params.merge(build_params());
  return params;
}

tracker::Params trial_identity(const Config& config, int world) {
  tracker::Params params = config.identity_params();
  params["data.global_batch_size"] = static_cast<int64_t>(config.integer("data.batch_size") * world);
  if (config.text("train.lr_scaling") == "linear") params["train.scaled_lr"] = config.real("train.lr") * world;
  return params;
}

namespace {

int local_size_from_env(int fallback) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return fallback;
}

}  // namespace

TrainContext::TrainContext(const TrainRequest& request)
    : request_(request), settings_(decode_settings(request.config)) {
  if (request.communicator == nullptr) own_communicator_ = make_local_communicator();
  comm_ = request.communicator ? request.communicator : own_communicator_.get();
  replica_.rank = comm_->rank();
  replica_.world = comm_->size();
  replica_.local_rank = comm_->local_rank();
  replica_.local_size = local_size_from_env(replica_.world);
  BackendOptions options;
  options.threads = settings_.threads;
  if (options.threads <= 0)
    options.threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, replica_.local_size));
  options.device = replica_.local_rank;
  options.precision = settings_.precision;
  options.deterministic = settings_.deterministic;
  backend_ = stride::make_backend(settings_.device, options);
  own_device_communicator_ = make_device_communicator(*comm_, *backend_);
  device_comm_ = own_device_communicator_ ? own_device_communicator_.get() : comm_;
}

TrainContext::~TrainContext() {
  if (!store_ || trial_id_ == 0 || finished_) return;
  try {
    tracker::TrialOutcome outcome;
    outcome.status = tracker::TrialStatus::failed;
    outcome.error = !failure_.empty()                ? failure_
                    : std::uncaught_exceptions() > 0 ? "training stopped by an error"
                                                     : "training did not finish";
    store_->finish_trial(trial_id_, outcome);
  } catch (const std::exception& e) {
    spdlog::error("could not mark trial {} failed: {}", trial_id_, e.what());
  }
}

void TrainContext::initialise_weights(Model& model, const ModelConfig& model_config) {
  const ModelSettings& settings = settings_.model;
  if (settings.init_from) {
    const std::string path =
        resolve_checkpoint_on_leader(*comm_, *settings.init_from, request_.db_path, request_.store);
    const CheckpointInfo info = read_checkpoint_info(path);
    size_t layers = matching_prefix(model, info.model);
    const int64_t asked = settings.init_layers;
    if (asked >= 0) {
      if (static_cast<size_t>(asked) > layers)
        fail<ConfigError>("model.init_layers = {}: only the first {} layers of {} match this model", asked, layers,
                          path);
      layers = static_cast<size_t>(asked);
    }
    if (layers == 0) fail<ConfigError>("model.init_from = {}: no leading layer matches this model", path);
    load_model_state(path, model, static_cast<int64_t>(layers));
    init_from_path_ = path;
    if (replica_.rank == 0) spdlog::info("initialised the first {} layers from {}", layers, path);
  }
  if (settings.freeze) {
    const std::string& freeze = *settings.freeze;
    size_t frozen = 0;
    if (freeze == "all_but_head") {
      // Everything before the last layer with parameters.
      for (size_t i = 0; i < model.size(); ++i)
        if (!model.layer_parameters(i).empty()) frozen = i;
    } else {
      frozen = static_cast<size_t>(parse_int(freeze, "model.freeze"));
      if (frozen > model.size())
        fail<ConfigError>("model.freeze = {}: the model has only {} layers", frozen, model.size());
    }
    model.freeze_first(frozen);
    if (replica_.rank == 0) spdlog::info("froze the first {} layers", frozen);
  }
  (void)model_config;
}

std::string TrainContext::checkpoint_path() const {
  return (std::filesystem::path(settings_.checkpoint_dir) / settings_.experiment /
          fmt::format("trial-{}.h5", trial_id_))
      .string();
}

TrainingState TrainContext::open_trial(Model& model, Optimizer& optimizer, Callbacks& callbacks) {
  TrainingState state;
  const Config& config = request_.config;
  // Only now, with data, model, optimizer and callbacks built from the config:
  // a config that fails to build them leaves the store as it was.
  if (replica_.rank == 0 && request_.store) {
    store_ = request_.store;
  } else if (replica_.rank == 0 && !request_.db_path.empty()) {
    store_ = &own_store_.emplace(tracker::Store::open(request_.db_path));
  }
  if (store_) experiment_id_ = store_->ensure_experiment(settings_.experiment);
  if (!store_) return state;
  tracker::NewTrial trial;
  trial.experiment_id = experiment_id_;
  trial.params = trial_params(config, replica_.world);
  trial.identity = trial_identity(config, replica_.world);
  if (!init_from_path_.empty()) trial.params["model.init_from_path"] = init_from_path_;  // what best:X meant
  trial.world_size = replica_.world;
  trial.device = device_name(settings_.device);
  trial.config_text = config.to_ini();

  std::optional<std::string> resume_from;
  if (request_.trial_id) {
    trial_id_ = *request_.trial_id;
    const tracker::TrialRecord record = store_->trial(trial_id_);
    if (record.checkpoint_path && std::filesystem::exists(*record.checkpoint_path))
      resume_from = record.checkpoint_path;
  } else if (request_.resume) {
    const auto record = store_->find_trial(experiment_id_, tracker::param_hash(*trial.identity));
    if (!record)
      fail<ConfigError>("--resume: experiment '{}' has no trial with these parameters in {}", settings_.experiment,
                        request_.db_path);
    if (record->status == tracker::TrialStatus::completed || record->status == tracker::TrialStatus::stopped_early)
      fail<ConfigError>("--resume: trial {} already finished ({})", record->id, tracker::status_name(record->status));
    trial_id_ = record->id;
    if (record->checkpoint_path && std::filesystem::exists(*record->checkpoint_path))
      resume_from = record->checkpoint_path;
    else  // killed before its first epoch ended: nothing to continue from
      spdlog::warn("--resume: trial {} has no checkpoint{}; starting it again from epoch 1", record->id,
                   record->checkpoint_path ? fmt::format(" ({} is missing)", *record->checkpoint_path) : " yet");
  } else {
    trial_id_ = store_->start_trial(trial);
  }

  if (resume_from) {
    const CheckpointInfo info = read_checkpoint_info(*resume_from);
    if (!info.state) fail<CheckpointError>("{}: holds no training state to resume from", *resume_from);
    load_model_state(*resume_from, model);
    load_optimizer_state(*resume_from, optimizer);
    state = *info.state;
    callbacks.restore(state.callbacks);
    if (callbacks.best_weights() && info.has_best)
      load_best_state(*resume_from, model.backend(), *callbacks.best_weight_slots());
    store_->resume_trial(trial_id_, state.epoch - 1);
    spdlog::info("resuming trial {} after epoch {} from {}", trial_id_, state.epoch, *resume_from);
  } else if (request_.trial_id || request_.resume) {
    store_->resume_trial(trial_id_, -1);
  }
  spdlog::info("trial {} of experiment '{}' ({} parameters, {} trainable)", trial_id_, settings_.experiment,
               model.parameter_count(), model.trainable_parameter_count());
  return state;
}

void TrainContext::synchronise_start(Model& model, Optimizer& optimizer, TrainingState& state, Callbacks& callbacks) {
  if (replica_.world > 1) {
    broadcast_parameters(*device_comm_, model);
    for (const SlotEntry& slot : optimizer.slots())
      device_comm_->broadcast(slot.tensor->f32(), static_cast<size_t>(slot.tensor->elements()), 0);
    backend_->note_external_write();
    int64_t place[3] = {state.epoch, state.global_step, optimizer.steps()};
    double lr_factor = callbacks.lr_factor();
    comm_->broadcast_bytes(place, sizeof(place), 0);
    comm_->broadcast_bytes(&lr_factor, sizeof(lr_factor), 0);
    state.epoch = place[0];
    state.global_step = place[1];
    optimizer.set_steps(place[2]);
    callbacks.set_lr_factor(lr_factor);
  }
  trainable_set_changed(model);
}

void TrainContext::trainable_set_changed(Model& model) {
  if (replica_.world == 1) return;
  sync_.reset();
  GradSyncOptions options;
  options.bucket_bytes = settings_.bucket_bytes;
  sync_.emplace(*device_comm_, model, options);
}

ReplicaSum* TrainContext::batch_norm_sync() {
  if (replica_.world == 1 || !settings_.sync_bn) return nullptr;
  if (!batch_norm_sum_) batch_norm_sum_.emplace(*device_comm_);
  return &*batch_norm_sum_;
}

int64_t TrainContext::sample_offset(const data::Batch& batch) const {
  const int64_t each = batch.global_size / replica_.world, extra = batch.global_size % replica_.world;
  return replica_.rank * each + std::min<int64_t>(replica_.rank, extra);
}

EpochTotals TrainContext::sum_totals(const EpochTotals& local) {
  double values[3] = {local.loss_sum, static_cast<double>(local.correct), static_cast<double>(local.count)};
  comm_->sum_across_ranks(values);
  return {values[0], static_cast<int64_t>(values[1]), static_cast<int64_t>(values[2])};
}

void TrainContext::sum_confusion(ConfusionMatrix& confusion) {
  if (replica_.world == 1) return;
  std::vector<int64_t>& counts = confusion.counts();
  std::vector<double> values(counts.begin(), counts.end());
  comm_->sum_across_ranks(values);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = static_cast<int64_t>(values[i]);
}

double TrainContext::take_communication_wait() {
  if (!sync_) return 0;
  const double total = sync_->stats().total_wait_s;
  const double epoch = total - communication_wait_mark_;
  communication_wait_mark_ = total;
  return epoch;
}

void TrainContext::synchronise_replicas(Model& model) {
  if (replica_.world == 1) return;
  average_buffers(*device_comm_, model);
  check_replicas_in_sync(*comm_, model);
}

void TrainContext::save(Model& model, Optimizer& optimizer, Callbacks& callbacks, const ModelConfig& model_config,
                        const TrainingState& state) {
  TrainingState saved = state;
  saved.callbacks = callbacks.state();
  saved.extra = {{"trial_id", trial_id_}, {"experiment", settings_.experiment}};
  save_checkpoint(checkpoint_path(), model_config, model, &optimizer, &saved, callbacks.best_weights());
}

void TrainContext::end_epoch(const EpochMetrics& metrics, EpochDecisions& decisions, const TrainingState& state,
                             Model& model, Optimizer& optimizer, Callbacks& callbacks,
                             const ModelConfig& model_config) {
  last_metrics_ = metrics.values;
  if (store_) record_epoch(metrics, decisions, state, model, optimizer, callbacks, model_config);
  // The leader's decisions hold for every rank.
  double outcome[4] = {decisions.stop ? 1.0 : 0.0, pruned_ ? 1.0 : 0.0, callbacks.lr_factor(),
                       decisions.diverged ? 1.0 : 0.0};
  comm_->broadcast_bytes(outcome, sizeof(outcome), 0);
  decisions.stop = outcome[0] != 0;
  pruned_ = outcome[1] != 0;
  callbacks.set_lr_factor(outcome[2]);
  decisions.diverged = outcome[3] != 0;
}

void TrainContext::record_epoch(const EpochMetrics& metrics, EpochDecisions& decisions, const TrainingState& state,
                                Model& model, Optimizer& optimizer, Callbacks& callbacks,
                                const ModelConfig& model_config) {
  if (request_.prune) {
    const auto it = metrics.values.find(request_.prune_metric);
    if (it != metrics.values.end()) {
      tracker::Decision d = request_.prune(trial_id_, metrics.epoch, it->second);
      pruned_ = d.kind == tracker::DecisionKind::prune;
      decisions.rows.push_back(std::move(d));
    }
  }
  // Checkpoint first: whatever the store shows of an epoch, a resume can start
  // after it. Diverged weights are not kept: the last finite epoch's stay.
  if (!decisions.diverged) {
    save(model, optimizer, callbacks, model_config, state);
    store_->set_checkpoint(trial_id_, checkpoint_path());
  }
  std::vector<tracker::MetricRow> rows;
  for (const auto& [name, value] : metrics.values) rows.push_back({name, metrics.epoch, std::nullopt, value, 0});
  store_->log_metrics(trial_id_, rows);
  store_->log_decisions(trial_id_, decisions.rows);
  if (callbacks.best()) store_->set_best(trial_id_, *callbacks.best());
}

void TrainContext::log_test(int64_t epoch, const EpochTotals& totals, const ClassificationReport& report) {
  last_metrics_["test_loss"] = totals.mean_loss();
  last_metrics_["test_accuracy"] = totals.accuracy();
  if (!store_) return;
  const std::vector<tracker::MetricRow> rows = {{"test_loss", epoch, std::nullopt, totals.mean_loss(), 0},
                                                {"test_accuracy", epoch, std::nullopt, totals.accuracy(), 0}};
  store_->log_metrics(trial_id_, rows);
  store_->log_evaluation(trial_id_, to_evaluation("test", report));
}

void TrainContext::finish(TrainResult& result, Model& model, Optimizer& optimizer, Callbacks& callbacks,
                          const ModelConfig& model_config, const TrainingState& state) {
  result.final_metrics = last_metrics_;
  result.best = callbacks.best();
  if (!store_) return;
  // The final checkpoint holds the weights the trial ends with (the best ones
  // under restore_best); a diverged trial keeps its last finite epoch's, if any.
  const bool diverged = result.error.has_value();
  if (!diverged) save(model, optimizer, callbacks, model_config, state);
  if (!diverged || std::filesystem::exists(checkpoint_path())) result.checkpoint = checkpoint_path();
  tracker::TrialOutcome outcome;
  outcome.status = result.status;
  outcome.best = callbacks.best();
  if (!result.checkpoint.empty()) outcome.checkpoint_path = result.checkpoint;
  outcome.error = result.error;
  store_->finish_trial(trial_id_, outcome);
  finished_ = true;
}

}  // namespace stride::tools
