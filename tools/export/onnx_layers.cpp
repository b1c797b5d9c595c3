// Layer emitters. Convolutions carry Stride's explicit pads (asymmetric for
// "same" when the extra pixel goes after, as in Keras); average pooling
// excludes padding as Stride's does; batch norm is the inference form over the
// running statistics. The settings that the core layers do not expose as
// values (pool window, activation slope, BN epsilon, residual stride) are read
// from the layer's canonical spec token, the same text the checkpoint rebuilds
// the layer from.
#include "export/onnx_layers.h"

#include <fmt/format.h>

#include <cstdint>

#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/core/layers.h"

namespace stride::exporter {
namespace {

// A spec token as Layer::spec() writes it: name(positional..., key=value...).
struct SpecToken {
  std::string text;
  std::vector<std::string> positional;
  std::map<std::string, std::string> keyword;

  static constexpr size_t kNamedOnly = SIZE_MAX;

  // The argument at `index` (kNamedOnly: none) or named `key`; empty when absent.
  std::string argument(size_t index, const std::string& key) const {
    if (index < positional.size()) return positional[index];
    const auto found = keyword.find(key);
    return found == keyword.end() ? std::string{} : found->second;
  }

  double real(size_t index, const std::string& key, double fallback) const {
    const std::string value = argument(index, key);
    return value.empty() ? fallback : parse_double(value, fmt::format("{}: {}", text, key));
  }

  // "3" -> (3, 3), "3x5" -> (3, 5).
  std::pair<int64_t, int64_t> pair(size_t index, const std::string& key, std::pair<int64_t, int64_t> fallback) const {
    const std::string value = to_lower(argument(index, key));
    if (value.empty()) return fallback;
    const auto parts = split(value, 'x');
    const std::string where = fmt::format("{}: {}", text, key);
    const int64_t first = parse_int(parts.at(0), where);
    return {first, parts.size() > 1 ? parse_int(parts[1], where) : first};
  }

  Padding padding() const {
    return to_lower(argument(kNamedOnly, "padding")) == "same" ? Padding::same : Padding::valid;
  }
};

SpecToken parse_token(const std::string& spec) {
  SpecToken token;
  token.text = spec;
  const size_t open = spec.find('(');
  if (open == std::string::npos) return token;
  const size_t close = spec.rfind(')');
  if (close == std::string::npos || close < open) fail<ConfigError>("layer spec '{}': missing ')'", spec);
  for (const std::string& raw : split(spec.substr(open + 1, close - open - 1), ',', true)) {
    const std::string arg = trim(raw);
    const size_t eq = arg.find('=');
    if (eq == std::string::npos)
      token.positional.push_back(arg);
    else
      token.keyword[to_lower(trim(arg.substr(0, eq)))] = trim(arg.substr(eq + 1));
  }
  return token;
}

// HWIO [KH, KW, C, K] -> OIHW [K, C, KH, KW].
std::vector<float> hwio_to_oihw(const Shape& shape, const std::vector<float>& hwio) {
  const int64_t kh = shape[0], kw = shape[1], c = shape[2], k = shape[3];
  std::vector<float> oihw(hwio.size());
  for (int64_t y = 0; y < kh; ++y)
    for (int64_t x = 0; x < kw; ++x)
      for (int64_t i = 0; i < c; ++i)
        for (int64_t o = 0; o < k; ++o)
          oihw[static_cast<size_t>(((o * c + i) * kh + y) * kw + x)] =
              hwio[static_cast<size_t>(((y * kw + x) * c + i) * k + o)];
  return oihw;
}

std::vector<int64_t> dims_of(const Shape& shape) {
  std::vector<int64_t> dims;
  for (int i = 0; i < shape.rank(); ++i) dims.push_back(shape[i]);
  return dims;
}

void require(const Flow& in, Layout layout, const std::string& name) {
  if (in.layout != layout)
    fail<ConfigError>("{}: expects {} input", name, layout == Layout::nchw ? "an image" : "a flat feature");
}

// `prefix` names a sub-layer's weights inside a composite layer ("conv1/").
std::string emit_conv(GraphBuilder& graph, const std::string& name, const std::string& x, const ConvParams& p,
                      const LayerWeights& weights, const std::string& prefix) {
  const std::string kernel_name = prefix + "kernel", bias_name = prefix + "bias";
  const Shape& hwio = weights.shape(kernel_name);
  std::vector<std::string> inputs = {x, graph.constant(name + "/kernel", {hwio[3], hwio[2], hwio[0], hwio[1]},
                                                       hwio_to_oihw(hwio, weights.values(kernel_name)))};
  if (weights.has(bias_name)) inputs.push_back(graph.constant(name + "/bias", {hwio[3]}, weights.values(bias_name)));
  onnx::NodeProto& node = graph.node("Conv", name, inputs);
  set_attribute(node, "kernel_shape", std::vector<int64_t>{p.kernel_h, p.kernel_w});
  set_attribute(node, "strides", std::vector<int64_t>{p.stride_h, p.stride_w});
  set_attribute(node, "pads", std::vector<int64_t>{p.pad_top, p.pad_left, p.pad_bottom, p.pad_right});
  return name;
}

std::string emit_batch_norm(GraphBuilder& graph, const std::string& name, const std::string& x, float epsilon,
                            const LayerWeights& weights, const std::string& prefix) {
  const int64_t channels = weights.shape(prefix + "gamma")[0];
  const auto constant = [&](const std::string& key) {
    return graph.constant(name + "/" + key, {channels}, weights.values(prefix + key));
  };
  onnx::NodeProto& node =
      graph.node("BatchNormalization", name,
                 {x, constant("gamma"), constant("beta"), constant("moving_mean"), constant("moving_variance")});
  set_attribute(node, "epsilon", epsilon);
  return name;
}

// A "same"-padded square convolution inside the residual block.
ConvParams same_conv(const Shape& input, int64_t kernel, int64_t stride) {
  const AxisPadding h = axis_padding(Padding::same, input[0], kernel, stride);
  const AxisPadding w = axis_padding(Padding::same, input[1], kernel, stride);
  ConvParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_top = h.before;
  p.pad_bottom = h.after;
  p.pad_left = w.before;
  p.pad_right = w.after;
  return p;
}

// y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the block of
// core/src/layers/residual.cpp: 3x3 "same" convolutions without bias, batch
// norms with Stride's defaults, a 1x1 convolution + BN shortcut when it projects.
std::string emit_residual(GraphBuilder& graph, Residual& block, const std::string& name, const LayerWeights& weights,
                          const std::string& x) {
  const int64_t stride = parse_token(block.spec()).pair(1, "stride", {1, 1}).first;
  const float epsilon = BatchNormParams{}.epsilon;
  const Shape& input = block.input_shape();
  const Shape& mid = block.output_shape();  // conv1's output, conv2's input
  std::string main = emit_conv(graph, name + "/conv1", x, same_conv(input, 3, stride), weights, "conv1/");
  main = emit_batch_norm(graph, name + "/bn1", main, epsilon, weights, "bn1/");
  main = graph.node("Relu", name + "/relu1", {main}).output(0);
  main = emit_conv(graph, name + "/conv2", main, same_conv(mid, 3, 1), weights, "conv2/");
  main = emit_batch_norm(graph, name + "/bn2", main, epsilon, weights, "bn2/");
  std::string shortcut = x;
  if (block.has_projection()) {
    shortcut = emit_conv(graph, name + "/proj_conv", x, same_conv(input, 1, stride), weights, "proj_conv/");
    shortcut = emit_batch_norm(graph, name + "/proj_bn", shortcut, epsilon, weights, "proj_bn/");
  }
  const std::string sum = graph.node("Add", name + "/add", {main, shortcut}).output(0);
  return graph.node("Relu", name, {sum}).output(0);
}

std::string emit_pool(GraphBuilder& graph, Layer& layer, const std::string& name, const std::string& x) {
  const SpecToken token = parse_token(layer.spec());
  const auto size = token.pair(0, "size", {2, 2});
  const auto stride = token.pair(1, "stride", size);
  const Shape& input = layer.input_shape();
  const AxisPadding h = axis_padding(token.padding(), input[0], size.first, stride.first);
  const AxisPadding w = axis_padding(token.padding(), input[1], size.second, stride.second);
  const bool max = layer.kind() == "max_pool2d";
  onnx::NodeProto& node = graph.node(max ? "MaxPool" : "AveragePool", name, {x});
  set_attribute(node, "kernel_shape", std::vector<int64_t>{size.first, size.second});
  set_attribute(node, "strides", std::vector<int64_t>{stride.first, stride.second});
  set_attribute(node, "pads", std::vector<int64_t>{h.before, w.before, h.after, w.after});
  // Padding never counts towards an average (Keras, cuDNN's EXCLUDE_PADDING).
  if (!max) set_attribute(node, "count_include_pad", int64_t{0});
  return name;
}

}  // namespace

LayerWeights::LayerWeights(Backend& backend, const std::vector<StateEntry>& entries) {
  for (const StateEntry& e : entries) {
    layer_ = e.layer;
    Host host{e.tensor->shape(), std::vector<float>(static_cast<size_t>(e.tensor->elements()))};
    backend.copy_to_host(*e.tensor, host.values.data());
    values_.emplace(e.name, std::move(host));
  }
}

const LayerWeights::Host& LayerWeights::get(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) fail<CheckpointError>("layer {}: no weight '{}'", layer_, name);
  return found->second;
}

Flow flatten_nhwc(GraphBuilder& graph, const std::string& name, const Flow& in) {
  onnx::NodeProto& transpose = graph.node("Transpose", name + "/to_nhwc", {in.tensor});
  set_attribute(transpose, "perm", std::vector<int64_t>{0, 2, 3, 1});
  onnx::NodeProto& node = graph.node("Flatten", name, {transpose.output(0)});
  set_attribute(node, "axis", int64_t{1});
  return {name, Layout::features};
}

Flow emit_layer(GraphBuilder& graph, Layer& layer, const std::string& name, const LayerWeights& weights,
                const Flow& in) {
  const std::string kind = layer.kind();
  if (kind == "conv2d") {
    require(in, Layout::nchw, name);
    return {emit_conv(graph, name, in.tensor, dynamic_cast<Conv2D&>(layer).params(), weights, ""), Layout::nchw};
  }
  if (kind == "relu") return {graph.node("Relu", name, {in.tensor}).output(0), in.layout};
  if (kind == "leaky_relu" || kind == "elu") {
    const double alpha = parse_token(layer.spec()).real(0, "alpha", kind == "elu" ? 1.0 : 0.3);
    onnx::NodeProto& node = graph.node(kind == "elu" ? "Elu" : "LeakyRelu", name, {in.tensor});
    set_attribute(node, "alpha", static_cast<float>(alpha));
    return {name, in.layout};
  }
  if (kind == "max_pool2d" || kind == "avg_pool2d") {
    require(in, Layout::nchw, name);
    return {emit_pool(graph, layer, name, in.tensor), Layout::nchw};
  }
  if (kind == "global_avg_pool") {
    require(in, Layout::nchw, name);
    const std::string pooled = graph.node("GlobalAveragePool", name + "/pool", {in.tensor}).output(0);
    onnx::NodeProto& node = graph.node("Flatten", name, {pooled});
    set_attribute(node, "axis", int64_t{1});
    return {name, Layout::features};
  }
  if (kind == "flatten") {
    if (in.layout == Layout::features) return {graph.node("Identity", name, {in.tensor}).output(0), in.layout};
    return flatten_nhwc(graph, name, in);
  }
  if (kind == "dense") {
    require(in, Layout::features, name);
    const Shape& shape = weights.shape("kernel");
    std::vector<std::string> inputs = {in.tensor,
                                       graph.constant(name + "/kernel", dims_of(shape), weights.values("kernel"))};
    if (weights.has("bias")) inputs.push_back(graph.constant(name + "/bias", {shape[1]}, weights.values("bias")));
    return {graph.node("Gemm", name, inputs).output(0), Layout::features};
  }
  if (kind == "dropout") return {graph.node("Identity", name, {in.tensor}).output(0), in.layout};
  if (kind == "batch_norm") {
    const double epsilon = parse_token(layer.spec()).real(SpecToken::kNamedOnly, "epsilon", BatchNormParams{}.epsilon);
    return {emit_batch_norm(graph, name, in.tensor, static_cast<float>(epsilon), weights, ""), in.layout};
  }
  if (kind == "residual") {
    require(in, Layout::nchw, name);
    return {emit_residual(graph, dynamic_cast<Residual&>(layer), name, weights, in.tensor), Layout::nchw};
  }
  fail<ConfigError>("{}: layer '{}' has no ONNX mapping", name, layer.spec());
}

}  // namespace stride::exporter
