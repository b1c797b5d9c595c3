// `stride report export --format mlflow|tensorboard --out DIR`: the store in
// the formats MLflow and TensorBoard read (docs/EXPORT.md), for people whose
// dashboards are those tools. The store is opened read-only: pointing the
// tools at an export, never at the store, is what keeps the store Stride's.
#include <fmt/format.h>

#include "report_subcommands.h"
#include "stride/common/error.h"
#include "stride/tracker/export.h"

namespace stride::tools {

int report_export(tracker::Store& store, const std::string& format, const std::string& out,
                  const std::optional<std::string>& experiment) {
  if (out.empty()) fail<ConfigError>("report export: give --out DIR");
  tracker::ExportOptions options;
  options.experiment = experiment;
  tracker::ExportSummary summary;
  std::string next;
  if (format == "mlflow") {
    summary = tracker::export_mlflow(store, out, options);
    next = fmt::format("MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {}", out);
  } else if (format == "tensorboard") {
    summary = tracker::export_tensorboard(store, out, options);
    next = fmt::format("tensorboard --logdir {}", out);
  } else {
    fail<ConfigError>("report export: --format '{}': expected mlflow or tensorboard", format);
  }
  fmt::print("wrote {} trials of {} experiments ({} metric values) to {}\nview them: {}\n", summary.trials,
             summary.experiments, summary.metric_points, out, next);
  return 0;
}

}  // namespace stride::tools
