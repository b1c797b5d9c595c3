// Parameter initialisers (Keras defaults): glorot-uniform kernels, constant
// biases and BN statistics. Values are drawn on the host from the model's Rng,
// in a fixed order, then copied to the device.
#pragma once

#include "stride/common/rng.h"
#include "stride/core/layer.h"

namespace stride {

void init_glorot_uniform(Backend& backend, Tensor& tensor, int64_t fan_in, int64_t fan_out, Rng& rng);
void init_constant(Backend& backend, Tensor& tensor, float value);
// Gives a parameter storage for its value and gradient of parameter.shape: none
// when it already has it (a model's arena), else its own (a layer on its own).
void allocate_parameter(Backend& backend, Parameter& parameter);

}  // namespace stride
