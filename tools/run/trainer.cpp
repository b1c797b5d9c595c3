// The training loop. The epoch is the unit of resumption: a checkpoint after
// every epoch holds weights, optimizer moments, callback state and the global
// step, and everything random (data order, augmentation, dropout) is a
// function of (seed, epoch, step), so a run resumed after epoch k repeats the
// uninterrupted run's epochs k+1... exactly.
#include "trainer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "evaluator.h"
#include "progress.h"
#include "session.h"
#include "stride/common/error.h"
#include "stride/common/log.h"
#include "stride/core/callbacks.h"
#include "stride/core/layer.h"
#include "stride/core/optimizer.h"
#include "stride/core/schedule.h"
#include "stride/data/loader.h"
#include "stride/tracker/store.h"
#include "train_context.h"
#include "train_step.h"

namespace stride::tools {

namespace {

using Clock = std::chrono::steady_clock;

// Steps between reads of the running loss and accuracy for the progress bar:
// a read waits for the device, so it is rare.
constexpr int64_t kProgressSteps = 32;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

TrainResult run_trial(const TrainRequest& request, TrainContext& run) {
  const auto started = Clock::now();
  const Config& config = request.config;
  const RunSettings& settings = run.settings();
  const Replica& replica = run.replica();
  const bool leader = replica.rank == 0;

  const data::Manifest manifest = data::load_manifest(settings.data.dir);
  const ModelConfig model_cfg = model_config(config, manifest);
  // Before any loader or model allocates: a config that needs more memory
  // than the machine has fails here, naming its keys.
  check_memory(settings, model_shapes(model_cfg), model_cfg.input);
  data::Loader train_loader(manifest, settings.loader_options("train", replica.rank, replica.world));
  std::optional<data::Loader> val_loader, test_loader;
  if (manifest.has_split("val"))
    val_loader.emplace(manifest, settings.loader_options("val", replica.rank, replica.world));
  if (manifest.has_split("test"))
    test_loader.emplace(manifest, settings.loader_options("test", replica.rank, replica.world));

  Backend& backend = run.backend();
  Model model = build_model(model_cfg, backend, settings.seed);
  const int64_t max_batch = std::max(settings.data.batch_size, settings.data.eval_batch_size);
  model.reserve(max_batch);
  run.initialise_weights(model, model_cfg);

  Optimizer optimizer(settings.optimizer, model);
  const int64_t epochs = settings.epochs;
  const int64_t steps_per_epoch = train_loader.steps_per_epoch();
  const LrSchedule schedule(settings.schedule_for(steps_per_epoch, replica.world));
  SoftmaxCrossEntropy loss(settings.label_smoothing);
  loss.reserve(backend, max_batch, model_cfg.classes);
  BatchSlots slots(backend, model_cfg.input, max_batch);
  Callbacks callbacks(config, model);

  if (request.validate_only) return {};
  // Where a resumed run picks up; a fresh one starts at epoch 0.
  TrainingState state = run.open_trial(model, optimizer, callbacks);
  run.synchronise_start(model, optimizer, state, callbacks);

  Progress progress(leader, request.progress_on_terminal && is_terminal(stderr));
  TrainResult result;
  result.trial_id = run.trial_id();
  ConfusionMatrix confusion(model_cfg.classes);
  Context ctx{backend};
  ctx.seed = settings.seed;
  ctx.batch_norm_sync = run.batch_norm_sync();
  TrainStep train_step(model, optimizer, loss, run.gradient_sync());
  const int64_t unfreeze_epoch = settings.model.unfreeze_epoch;
  bool unfrozen = false;

  int64_t epoch = state.epoch;
  for (; epoch < epochs; ++epoch) {
    if (!unfrozen && unfreeze_epoch >= 0 && epoch >= unfreeze_epoch) {
      unfrozen = true;
      model.freeze_first(0);
      run.trainable_set_changed(model);
      train_step.set_sync(run.gradient_sync());
      if (leader) spdlog::info("epoch {}: every layer trains from now on", epoch + 1);
    }
    const auto epoch_start = Clock::now();
    progress.start(fmt::format("epoch {}/{}", epoch + 1, epochs), steps_per_epoch);
    train_loader.start_epoch(epoch);
    train_step.reset_totals();
    StepTotals shown;  // what the progress bar shows, read every kProgressSteps steps
    float lr = 0;
    ctx.mode = Mode::training;
    for (int64_t step = 0; const data::Batch* b = train_loader.next(); ++step) {
      lr = static_cast<float>(schedule.at(state.global_step) * callbacks.lr_factor());
      ctx.step = static_cast<uint64_t>(state.global_step);
      ctx.sample_offset = run.sample_offset(*b);
      slots.load(*b);
      train_step.run(ctx, slots.images(), slots.labels(), b->global_size, lr);
      ++state.global_step;
      if (leader && (step % kProgressSteps == kProgressSteps - 1 || step + 1 == steps_per_epoch))
        shown = train_step.read_totals();
      // One rank alone may stop mid-epoch on a diverged loss; several decide
      // at the epoch's end, on the loss they all see.
      if (replica.world == 1 && !std::isfinite(shown.loss_sum)) break;
      const double seen = static_cast<double>(std::max<int64_t>(shown.count, 1));
      progress.update(
          step, shown.loss_sum / seen, static_cast<double>(shown.correct) / seen,
          static_cast<double>((step + 1) * settings.data.batch_size * replica.world) / seconds_since(epoch_start));
    }
    const StepTotals epoch_totals = train_step.read_totals();
    const double train_seconds = seconds_since(epoch_start);
    const double communication_wait = run.take_communication_wait();
    run.synchronise_replicas(model);
    const EpochTotals train_totals = run.sum_totals({epoch_totals.loss_sum, epoch_totals.correct, epoch_totals.count});

    EpochMetrics metrics;
    metrics.epoch = epoch;
    metrics.values["train_loss"] = train_totals.mean_loss();
    metrics.values["train_accuracy"] = train_totals.accuracy();
    metrics.values["lr"] = lr;
    metrics.values["images_per_s"] = static_cast<double>(train_totals.count) / train_seconds;
    metrics.values["data_wait_fraction"] = train_loader.wait_seconds() / train_seconds;
    if (replica.world > 1) metrics.values["comm_wait_fraction"] = communication_wait / train_seconds;
    if (val_loader && std::isfinite(train_totals.loss_sum)) {
      confusion.reset();
      progress.start_pass("val", val_loader->steps_per_epoch());
      const EpochTotals val =
          run.sum_totals(evaluate(model, loss, slots, *val_loader, confusion, progress.pass_ticker()));
      metrics.values["val_loss"] = val.mean_loss();
      metrics.values["val_accuracy"] = val.accuracy();
    }
    metrics.values["epoch_seconds"] = seconds_since(epoch_start);
    progress.finish(describe_epoch(metrics));

    state.epoch = epoch + 1;
    EpochDecisions decisions = callbacks.end_of_epoch(epoch, metrics, lr, model);
    run.end_epoch(metrics, decisions, state, model, optimizer, callbacks, model_cfg);
    if (decisions.diverged) {
      result.status = tracker::TrialStatus::failed;
      result.error = decisions.rows.empty() ? "training diverged" : decisions.rows.front().reason;
      if (leader) spdlog::error("{}", *result.error);
      ++epoch;
      break;
    }
    if (decisions.stop) {
      result.status = tracker::TrialStatus::stopped_early;
      ++epoch;
      break;
    }
    if (run.pruned()) {
      result.status = tracker::TrialStatus::pruned;
      ++epoch;
      break;
    }
  }
  result.epochs = epoch;

  const bool diverged = result.error.has_value();
  if (!diverged && callbacks.restore_best(model))
    spdlog::info("restored the best weights (epoch {})", callbacks.best_epoch() + 1);
  if (test_loader && result.status != tracker::TrialStatus::pruned && !diverged) {
    confusion.reset();
    progress.start("test", test_loader->steps_per_epoch());
    const EpochTotals test =
        run.sum_totals(evaluate(model, loss, slots, *test_loader, confusion, progress.pass_ticker()));
    progress.clear();
    run.sum_confusion(confusion);
    if (leader) {
      const ClassificationReport report = confusion.report(model_cfg.class_names, test.mean_loss());
      spdlog::info("test loss {:.4f}, test accuracy {:.4f} ({} images)", test.mean_loss(), test.accuracy(), test.count);
      run.log_test(epoch - 1, test, report);
    }
  }
  run.finish(result, model, optimizer, callbacks, model_cfg, state);
  result.seconds = seconds_since(started);
  return result;
}

}  // namespace

TrainResult train(const TrainRequest& request) {
  TrainContext run(request);
  try {
    return run_trial(request, run);
  } catch (const std::exception& e) {
    run.record_failure(e.what());  // the trial's error column says what stopped it
    throw;
  }
}

}  // namespace stride::tools
