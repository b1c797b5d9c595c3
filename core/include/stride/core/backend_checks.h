// Argument checks every backend makes the same way before it touches memory
// (the CPU and CUDA backends call these, so their errors read alike).
#pragma once

#include <initializer_list>
#include <span>

#include "stride/core/backend.h"

namespace stride {

// Every arena tensor has the same size and every segment lies inside it.
void check_arena_segments(std::span<const ArenaSegment> segments, std::initializer_list<const Tensor*> arenas,
                          const char* op);

// accumulate_classification's shapes: logits (n, k); labels and losses n; totals 2; confusion k*k when defined.
void check_classification_shapes(const Tensor& logits, const Tensor& labels, const Tensor& losses, const Tensor& totals,
                                 const Tensor& confusion);

}  // namespace stride
