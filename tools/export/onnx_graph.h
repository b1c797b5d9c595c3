// A thin layer over the ONNX protobuf classes (Debian's libonnx): adds
// initializers, nodes and attributes to a GraphProto under names the caller
// chooses, so the layer emitters read as a list of ops. Every node has one
// output, named after the node: "03_conv2d", "04_residual/conv1".
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace stride::exporter {

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  // A float32 initializer of shape dims; returns its name.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);

  // Appends a node `op` whose one output is called `name`; attributes go on the result.
  onnx::NodeProto& node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs);

  // A graph input or output: float32 with a symbolic batch ("N") then fixed dims.
  void input(const std::string& name, const std::vector<int64_t>& dims);
  void output(const std::string& name, const std::vector<int64_t>& dims);

 private:
  onnx::GraphProto& graph_;
};

void set_attribute(onnx::NodeProto& node, const std::string& name, int64_t value);
void set_attribute(onnx::NodeProto& node, const std::string& name, float value);
void set_attribute(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values);

}  // namespace stride::exporter
