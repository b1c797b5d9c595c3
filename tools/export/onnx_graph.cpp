// GraphBuilder: initializers as raw little-endian float32 (what onnxruntime and
// numpy_helper read fastest), value infos with a symbolic batch dimension.
#include "export/onnx_graph.h"

#include <bit>

#include "stride/common/error.h"

namespace stride::exporter {
namespace {

void describe(onnx::ValueInfoProto& value, const std::string& name, const std::vector<int64_t>& dims) {
  value.set_name(name);
  onnx::TypeProto_Tensor* tensor = value.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

std::string GraphBuilder::constant(const std::string& name, const std::vector<int64_t>& dims,
                                   const std::vector<float>& values) {
  int64_t elements = 1;
  for (int64_t d : dims) elements *= d;
  if (elements != static_cast<int64_t>(values.size()))
    fail<ShapeError>("onnx initializer '{}': {} values for {} elements", name, values.size(), elements);
  onnx::TensorProto* tensor = graph_.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tensor->add_dims(d);
  static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian");
  tensor->set_raw_data(values.data(), values.size() * sizeof(float));
  return name;
}

onnx::NodeProto& GraphBuilder::node(const std::string& op, const std::string& name,
                                    const std::vector<std::string>& inputs) {
  onnx::NodeProto* node = graph_.add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(name);
  return *node;
}

void GraphBuilder::input(const std::string& name, const std::vector<int64_t>& dims) {
  describe(*graph_.add_input(), name, dims);
}

void GraphBuilder::output(const std::string& name, const std::vector<int64_t>& dims) {
  describe(*graph_.add_output(), name, dims);
}

void set_attribute(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_attribute(onnx::NodeProto& node, const std::string& name, float value) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void set_attribute(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

}  // namespace stride::exporter
