// `stride export --format onnx`: a checkpoint's trained model as an ONNX
// graph (opset 13) that maps what `stride predict` is given to what it prints.
//   input  "pixels"        float32 [N, H, W, C] (NHWC), values 0..255 as decoded
//                          from 8-bit images, channels in the checkpoint's order
//   output "probabilities" float32 [N, classes], softmax of the logits
// The graph normalises as training did ((x/255 - mean) / std per channel, or
// x/255), transposes to NCHW once, runs the layers in inference mode (dropout
// is the identity, batch norm uses its running statistics) and ends in softmax.
// Class names and the model config travel as metadata_props.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>

#include "stride/core/checkpoint.h"
#include "stride/core/model.h"

namespace stride::exporter {

inline constexpr int64_t kOnnxOpset = 13;
inline constexpr const char* kOnnxInput = "pixels";
inline constexpr const char* kOnnxOutput = "probabilities";

struct OnnxOptions {
  std::string producer_version;  // written as the model's producer_version
};

// The graph of `model` (parameters allocated and loaded) fed as `config` says.
// CheckpointError when the model does not take images or its outputs are not
// config.classes; ConfigError naming a layer that has no ONNX mapping.
onnx::ModelProto model_to_onnx(const ModelConfig& config, Model& model, const OnnxOptions& options = {});

struct OnnxExportSummary {
  int64_t nodes = 0;
  int64_t parameters = 0;  // the model's weights and BN statistics, as `stride summary` counts them
  int64_t bytes = 0;       // of the written file
};

// Rebuilds the checkpoint's model on the CPU, loads its weights and writes the
// ONNX file to `out` through a temporary name, so a failed export leaves any
// earlier file there as it was.
OnnxExportSummary export_onnx(const std::string& checkpoint, const std::string& out, const OnnxOptions& options = {});

}  // namespace stride::exporter
