// `stride train --config FILE [--set k=v]... [--db PATH] [--device cpu|cuda] [--resume]`
#include <fmt/format.h>

#include "cli.h"
#include "run/trainer.h"
#include "stride/common/log.h"
#include "stride/distributed/communicator.h"

namespace stride::tools {

int run_train(const Args& args) {
  CommandLine command;
  command.usage = "stride train --config FILE [--set section.key=value]... [--db PATH] [--device cpu|cuda] [--resume]";
  command.summary =
      "Trains one trial of the config's experiment: validation every epoch, the test split at the end, a checkpoint\n"
      "after every epoch, and parameters, metrics and decisions in the experiment store. Under `mpirun -np N`\n"
      "the N ranks train one data-parallel replica each (data.batch_size is per rank).";
  std::vector<std::string> overrides;
  std::string config_path, db, device;
  command.options.add_options()("config,c", po::value(&config_path)->required(), "experiment config (INI)")(
      "set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")(
      "db", po::value(&db)->default_value("runs/stride.db"), "experiment store (SQLite)")(
      "device", po::value(&device), "cpu | cuda (overrides train.device)")(
      "resume", po::bool_switch(), "continue this config's interrupted trial from its last checkpoint")(
      "no-progress", po::bool_switch(), "plain log lines instead of a progress bar");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  TrainRequest request;
  request.config = Config::load(config_path, overrides);
  if (!device.empty()) request.config.set("train.device", device, "--device");
  request.db_path = db;
  request.resume = (*vm)["resume"].as<bool>();
  request.progress_on_terminal = !(*vm)["no-progress"].as<bool>();
  CommunicatorOptions options = communicator_options_from_env();
  options.timeout_s = request.config.real("train.collective_timeout");
  const std::unique_ptr<Communicator> communicator = make_communicator(CommunicatorKind::automatic, options);
  init_logging(communicator->rank());
  request.communicator = communicator.get();
  TrainResult result;
  try {
    result = train(request);
  } catch (const std::exception& e) {
    // One rank failing must not leave the others waiting in a collective.
    if (communicator->size() > 1) communicator->abort(fmt::format("rank {}: {}", communicator->rank(), e.what()));
    throw;
  }
  if (communicator->rank() != 0) return 0;
  if (result.trial_id != 0) {
    std::string line = fmt::format("trial {} {} after {} epochs in {:.1f}s", result.trial_id,
                                   tracker::status_name(result.status), result.epochs, result.seconds);
    if (const auto it = result.final_metrics.find("test_accuracy"); it != result.final_metrics.end())
      line += fmt::format(": test accuracy {:.4f}", it->second);
    if (result.error) {
      fmt::print(stderr, "stride train: {}: {}\n", line, *result.error);
      return 1;
    }
    fmt::print("{}\ncheckpoint: {}\n", line, result.checkpoint);
  }
  return 0;
}

}  // namespace stride::tools
