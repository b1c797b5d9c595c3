// `stride export --checkpoint FILE --format onnx --out FILE`: the trained
// model for other runtimes. The graph and its input are described in
// export/onnx_export.h and docs/EXPORT.md.
#include <fmt/format.h>

#include "cli.h"
#include "export/onnx_export.h"
#include "stride/common/error.h"
#include "stride/tracker/pick.h"

namespace stride::tools {

int run_export(const Args& args) {
  CommandLine command;
  command.usage = "stride export --checkpoint FILE --format onnx --out FILE";
  command.summary =
      "Writes the checkpoint's model as an ONNX graph: float32 NHWC pixels 0..255 in (input 'pixels'), softmax "
      "probabilities out ('probabilities'), normalised as in training.";
  std::string checkpoint, format, out, db;
  // clang-format off
  command.options.add_options()
      ("checkpoint", po::value(&checkpoint)->required(),
       "model or training checkpoint (.h5), or best:EXPERIMENT / latest:EXPERIMENT from the store")
      ("db", po::value(&db)->default_value("runs/stride.db"), "experiment store that best:/latest: read")
      ("format", po::value(&format)->default_value("onnx"), "onnx")
      ("out", po::value(&out)->required(), "file to write (model.onnx)");
  // clang-format on
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (format != "onnx") fail<ConfigError>("--format '{}': expected onnx", format);

  checkpoint = tracker::resolve_checkpoint(checkpoint, db);
  exporter::OnnxOptions options;
  options.producer_version = STRIDE_VERSION;
  const exporter::OnnxExportSummary summary = exporter::export_onnx(checkpoint, out, options);
  fmt::print("{}: ONNX opset {}, {} nodes, {} parameters, {} bytes\n", out, exporter::kOnnxOpset, summary.nodes,
             summary.parameters, summary.bytes);
  return 0;
}

}  // namespace stride::tools
