// The model-level part of the ONNX export: graph inputs and outputs, the input
// normalisation, the layer walk, metadata, and the atomic write.
#include "export/onnx_export.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "export/onnx_graph.h"
#include "export/onnx_layers.h"
#include "stride/common/error.h"

namespace stride::exporter {
namespace {

// The loader's evaluation path (data::normalize) computes x * scale + bias in
// float with these per-channel constants; the graph does the same arithmetic.
std::string emit_normalisation(GraphBuilder& graph, const ModelConfig& config) {
  const int64_t channels = config.input[2];
  if (!config.normalize) {
    const std::string scale = graph.constant("normalise/divisor", {}, {255.0f});
    return graph.node("Div", "normalise", {kOnnxInput, scale}).output(0);
  }
  if (static_cast<int64_t>(config.mean.size()) != channels || static_cast<int64_t>(config.std.size()) != channels)
    fail<CheckpointError>("model_config: normalisation needs one mean and std per channel ({}), got {} and {}",
                          channels, config.mean.size(), config.std.size());
  std::vector<float> scale, bias;
  for (int64_t k = 0; k < channels; ++k) {
    const double s = config.std[static_cast<size_t>(k)] > 1e-12 ? config.std[static_cast<size_t>(k)] : 1.0;
    scale.push_back(static_cast<float>(1.0 / (255.0 * s)));
    bias.push_back(static_cast<float>(-config.mean[static_cast<size_t>(k)] / s));
  }
  const std::string scaled =
      graph.node("Mul", "normalise/scale", {kOnnxInput, graph.constant("normalise/scale_factor", {channels}, scale)})
          .output(0);
  return graph.node("Add", "normalise", {scaled, graph.constant("normalise/shift", {channels}, bias)}).output(0);
}

void add_metadata(onnx::ModelProto& proto, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* entry = proto.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

void write_file(const std::string& path, const std::string& bytes) {
  const std::filesystem::path target(path);
  const std::string temporary = fmt::format("{}.tmp-{}", path, getpid());
  try {
    if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) fail<DataError>("{}: cannot write: {}", path, std::strerror(errno));
    std::filesystem::rename(temporary, target);
  } catch (const std::filesystem::filesystem_error& e) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    fail<DataError>("{}: cannot write: {}", path, e.code().message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

}  // namespace

onnx::ModelProto model_to_onnx(const ModelConfig& config, Model& model, const OnnxOptions& options) {
  if (config.input.rank() != 3)
    fail<CheckpointError>("the model takes {} inputs, not (H, W, C) images", config.input.str());
  if (model.output_shape().elements() != config.classes)
    fail<CheckpointError>("the model ends in {} outputs but the config names {} classes",
                          model.output_shape().elements(), config.classes);

  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("stride");
  proto.set_producer_version(options.producer_version);
  proto.set_doc_string(fmt::format("{}: float32 NHWC pixels 0..255 in, softmax probabilities over {} classes out",
                                   config.spec, config.classes));
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  add_metadata(proto, "class_names", nlohmann::json(config.class_names).dump());
  add_metadata(proto, "stride.model_config", config.to_json().dump());

  onnx::GraphProto& graph_proto = *proto.mutable_graph();
  graph_proto.set_name(config.source.empty() ? "stride" : config.source);
  GraphBuilder graph(graph_proto);
  graph.input(kOnnxInput, {config.input[0], config.input[1], config.input[2]});

  onnx::NodeProto& to_nchw = graph.node("Transpose", "to_nchw", {emit_normalisation(graph, config)});
  set_attribute(to_nchw, "perm", std::vector<int64_t>{0, 3, 1, 2});
  Flow flow{to_nchw.output(0), Layout::nchw};

  std::map<std::string, std::vector<StateEntry>> state;
  for (const StateEntry& e : model.state()) state[e.layer].push_back(e);
  for (size_t i = 0; i < model.size(); ++i) {
    const std::string name = model.layer_name(i);
    const LayerWeights weights(model.backend(), state[name]);
    flow = emit_layer(graph, model.layer(i), name, weights, flow);
  }
  // Logits left as an image (a 1x1 convolutional head) are flattened as Stride reads them.
  if (flow.layout == Layout::nchw) flow = flatten_nhwc(graph, "logits", flow);

  onnx::NodeProto& softmax = graph.node("Softmax", kOnnxOutput, {flow.tensor});
  set_attribute(softmax, "axis", int64_t{1});
  graph.output(kOnnxOutput, {config.classes});
  return proto;
}

OnnxExportSummary export_onnx(const std::string& checkpoint, const std::string& out, const OnnxOptions& options) {
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  auto backend = make_cpu_backend(1);
  Model model = Model::from_spec(info.model.spec, info.model.input);
  model.init(*backend, 0);
  load_model_state(checkpoint, model);
  onnx::ModelProto proto;
  try {
    proto = model_to_onnx(info.model, model, options);
  } catch (const CheckpointError& e) {
    fail<CheckpointError>("{}: {}", checkpoint, e.what());
  } catch (const ConfigError& e) {
    fail<ConfigError>("{}: {}", checkpoint, e.what());
  }

  std::string bytes;
  if (!proto.SerializeToString(&bytes)) fail<DataError>("{}: the model does not fit one protobuf message", out);
  write_file(out, bytes);
  OnnxExportSummary summary;
  summary.nodes = proto.graph().node_size();
  for (const onnx::TensorProto& t : proto.graph().initializer())
    if (t.name().rfind("normalise/", 0) != 0)
      summary.parameters += static_cast<int64_t>(t.raw_data().size() / sizeof(float));
  summary.bytes = static_cast<int64_t>(bytes.size());
  return summary;
}

}  // namespace stride::exporter
