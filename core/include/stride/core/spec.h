// The model spec language of [model] layers: whitespace-separated tokens,
// each a layer name with optional arguments, positional then key=value:
//
//   conv(32,3) relu maxpool(2) conv(64,3,stride=2,padding=same,bias=false)
//   bn dropout(0.25) residual(128,stride=2) gap flatten dense(10)
//
// Errors name the position (1-based column) and the token at fault.
#pragma once

#include <string>
#include <vector>

#include "stride/core/layer.h"

namespace stride {

std::vector<LayerPtr> parse_layers(const std::string& spec);

// The spec of a named architecture (seed_cnn, vgg_bn, resnet9) for `classes`
// outputs; ConfigError naming the arch (and the closest name) when unknown.
std::string arch_spec(const std::string& name, int64_t classes);
std::vector<std::string> arch_names();

}  // namespace stride
