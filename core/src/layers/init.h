// Parameter initialisers (Keras defaults): glorot-uniform kernels, constant
// biases and BN statistics. Values are drawn on the host from the model's Rng,
// in a fixed order, then copied to the device.
#pragma once

#include "stride/common/rng.h"
#include "stride/core/layer.h"

namespace stride {

void init_glorot_uniform(Backend& backend, Tensor& tensor, int64_t fan_in, int64_t fan_out, Rng& rng);
void init_constant(Backend& backend, Tensor& tensor, float value);
// Allocates value (and grad when trainable) of `shape` on the backend.
void allocate_parameter(Backend& backend, Parameter& parameter, const Shape& shape);

}  // namespace stride
