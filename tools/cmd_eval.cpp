// `stride eval --checkpoint FILE --data DIR [--split test] [--db PATH]`: the
// classification report of a saved model on a prepared split, stored with
// the trial that produced the checkpoint when the store knows it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli.h"
#include "run/evaluator.h"
#include "run/session.h"
#include "stride/common/error.h"
#include "stride/common/table.h"
#include "stride/tracker/pick.h"
#include "stride/tracker/store.h"

namespace stride::tools {

namespace {

nlohmann::json report_json(const ClassificationReport& report) {
  nlohmann::json classes = nlohmann::json::array();
  for (const ClassMetrics& c : report.classes)
    classes.push_back({{"class", c.name}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
                       {"support", c.support}});
  const auto average = [](const ClassMetrics& m) {
    return nlohmann::json{{"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}};
  };
  return {{"accuracy", report.accuracy}, {"loss", report.loss},           {"samples", report.samples},
          {"classes", classes},          {"macro", average(report.macro)}, {"weighted", average(report.weighted)},
          {"confusion", report.confusion}};
}

// One spreadsheet table: a row per class (its precision, recall, F1, support
// and its row of the confusion matrix, a column per predicted class), then
// accuracy in the F1 column as scikit-learn's classification_report places
// it, and the two averages.
Table report_table(const ClassificationReport& report) {
  std::vector<std::string> columns = {"class", "precision", "recall", "f1", "support"};
  for (const ClassMetrics& c : report.classes) columns.push_back("predicted " + c.name);
  Table table(columns);
  const size_t classes = report.classes.size();
  for (size_t i = 0; i < classes; ++i) {
    const ClassMetrics& c = report.classes[i];
    std::vector<Table::Cell> row = {c.name, c.precision, c.recall, c.f1, c.support};
    for (size_t j = 0; j < classes; ++j)
      row.emplace_back(i < report.confusion.size() && j < report.confusion[i].size() ? report.confusion[i][j] : 0);
    table.add_row(std::move(row));
  }
  const auto summary_row = [&](const std::string& name, Table::Cell precision, Table::Cell recall, Table::Cell f1) {
    std::vector<Table::Cell> row = {name, precision, recall, f1, report.samples};
    row.resize(columns.size());
    table.add_row(std::move(row));
  };
  summary_row("accuracy", {}, {}, report.accuracy);
  summary_row("macro avg", report.macro.precision, report.macro.recall, report.macro.f1);
  summary_row("weighted avg", report.weighted.precision, report.weighted.recall, report.weighted.f1);
  return table;
}

}  // namespace

int run_eval(const Args& args) {
  CommandLine command;
  command.usage =
      "stride eval --checkpoint FILE [--data DIR] [--split test] [--db PATH] [--device cpu|cuda] "
      "[--format table|csv|json]";
  command.summary =
      "Accuracy, per-class precision, recall, F1 and support, macro and weighted averages and the confusion\n"
      "matrix of a checkpoint on a prepared split. The result is stored with the checkpoint's trial.";
  std::string checkpoint, data_dir, split, db, format, device;
  int64_t batch = 256;
  command.options.add_options()
      ("checkpoint", po::value(&checkpoint)->required(),
       "model or training checkpoint (.h5), or best:EXPERIMENT / latest:EXPERIMENT from the store")
      ("data", po::value(&data_dir)->default_value("data/fashion-mnist"), "prepared dataset directory")
      ("split", po::value(&split)->default_value("test"), "train | val | test")
      ("batch", po::value(&batch)->default_value(256), "images per step")
      ("db", po::value(&db)->default_value("runs/stride.db"), "experiment store to record the evaluation in")
      ("device", po::value(&device)->default_value("cpu"), "cpu | cuda")
      ("format", po::value(&format)->default_value("table"),
       "table | csv (a row per class with its confusion row, then accuracy and averages) | json");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const TableFormat table_format = parse_table_format(format);

  checkpoint = tracker::resolve_checkpoint(checkpoint, db);
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  const data::Manifest manifest = data::load_manifest(data_dir);
  if (manifest.num_classes() != info.model.classes)
    fail<DataError>("{}: {} classes, but the model in {} has {}", manifest.path().string(), manifest.num_classes(),
                    checkpoint, info.model.classes);
  const Shape input{manifest.shape.height, manifest.shape.width, manifest.shape.channels};
  if (input != info.model.input)
    fail<DataError>("{}: images are {}, the model in {} takes {}", manifest.path().string(), input.str(), checkpoint,
                    info.model.input.str());

  auto backend = make_backend(device, 0);
  Model model = build_model(info.model, *backend, 0);
  model.reserve(batch);
  load_model_state(checkpoint, model);
  data::LoaderOptions options;
  options.split = split;
  options.batch_size = batch;
  options.shuffle = false;
  options.augmentation.normalize = info.model.normalize;
  data::Loader loader(manifest, options);
  SoftmaxCrossEntropy loss;
  loss.reserve(*backend, batch, info.model.classes);
  BatchSlots slots(*backend, input, batch);
  ConfusionMatrix confusion(info.model.classes);
  const EvalTotals totals = evaluate(model, loss, slots, loader, confusion);
  const ClassificationReport report = confusion.report(info.model.class_names, totals.mean_loss());

  if (table_format == TableFormat::json)
    fmt::print("{}\n", report_json(report).dump(2));
  else if (table_format == TableFormat::csv)
    fmt::print("{}", report_table(report).to_csv());
  else
    fmt::print("{} on {} ({} images)\n{}", checkpoint, split, totals.count, format_report(report));

  const bool has_trial = info.state && info.state->extra.contains("trial_id");
  if (has_trial && std::filesystem::exists(db)) {
    const int64_t trial_id = info.state->extra.at("trial_id").get<int64_t>();
    auto store = tracker::Store::open(db);
    store.log_evaluation(trial_id, to_evaluation(split, report));
    spdlog::info("stored the evaluation with trial {} in {}", trial_id, db);
  }
  return 0;
}

}  // namespace stride::tools
