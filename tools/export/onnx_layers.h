// The ONNX ops of each Stride layer. Inside the graph images flow NCHW (what
// ONNX's Conv and pooling ops take): the input is transposed once, kernels are
// stored OIHW, and flatten transposes back to NHWC before it flattens, so a
// dense layer after it sees Keras' (and Stride's) feature order and keeps its
// [in, out] kernel as is.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "export/onnx_graph.h"
#include "stride/core/model.h"

namespace stride::exporter {

enum class Layout { nchw, features };

// The tensor a layer reads: its name in the graph and how it is laid out.
struct Flow {
  std::string tensor;
  Layout layout = Layout::nchw;
};

// One layer's parameters and buffers ("kernel", "conv1/kernel", "bn1/moving_mean")
// copied to the host, with the shapes Stride stores them in.
class LayerWeights {
 public:
  LayerWeights(Backend& backend, const std::vector<StateEntry>& entries);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const Shape& shape(const std::string& name) const { return get(name).shape; }
  const std::vector<float>& values(const std::string& name) const { return get(name).values; }

 private:
  struct Host {
    Shape shape;
    std::vector<float> values;
  };
  const Host& get(const std::string& name) const;

  std::string layer_;
  std::map<std::string, Host> values_;
};

// Appends the ops of `layer` (model name `name`, "03_conv2d") reading `in` and
// returns what it produces. ConfigError naming the layer when it has no mapping.
Flow emit_layer(GraphBuilder& graph, Layer& layer, const std::string& name, const LayerWeights& weights,
                const Flow& in);

// NCHW back to NHWC, flattened per sample: [N, H*W*C] in Stride's order.
Flow flatten_nhwc(GraphBuilder& graph, const std::string& name, const Flow& in);

}  // namespace stride::exporter
