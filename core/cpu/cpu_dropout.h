// Dropout's mask and output over a range of elements (cpu_dropout.cpp).
#pragma once

#include <cstdint>

namespace stride::cpu {

struct DropoutArgs {
  float rate = 0;
  float keep_scale = 0;         // 1 / (1 - rate): inverted dropout
  uint64_t key = 0;             // Philox key of this layer and step
  uint64_t element_offset = 0;  // global index of element 0 (a rank's slice of the batch)
  const float* in = nullptr;
  float* out = nullptr;
  float* mask = nullptr;
};

// Elements [begin, end) of in, out and mask. `vectorise` false takes the
// scalar path everywhere (tests compare the two).
void dropout_range(const DropoutArgs& args, int64_t begin, int64_t end, bool vectorise = true);

}  // namespace stride::cpu
