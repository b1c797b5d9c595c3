// What the CUDA backend keeps per op and shape. A convolution plan: cuDNN's
// descriptors (NHWC tensors, a KRSC filter, the window) and the algorithms
// allowed for it, best first. Asymmetric padding is not expressible in the
// legacy descriptors, so such a plan describes the explicitly padded input
// (padded_h x padded_w) with zero descriptor padding. A batch-norm plan: the
// descriptors, cuDNN's mode and the workspace and reserve sizes it asked for.
#pragma once

#include <vector>

#include "cuda_backend.h"
#include "cuda_check.h"

namespace stride::cuda {

struct ConvPlan {
  ConvOp op = ConvOp::forward;
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  // bf16 data (under Precision::bf16), unless cuDNN has no bf16 algorithm for
  // the shape (a first layer with one input channel, say): then this op runs in f32.
  bool half = false;
  bool padded = false;
  int64_t padded_h = 0, padded_w = 0;
  struct Choice {
    int algorithm = 0;
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
    size_t workspace = 0;
  };
  std::vector<Choice> choices;
  size_t current = 0;
};

struct BatchNormPlan {
  TensorDesc x;
  TensorDesc channels;
  bool persistent = true;  // SPATIAL_PERSISTENT through the *Ex calls, else plain SPATIAL
  size_t forward_workspace = 0, backward_workspace = 0, reserve = 0;
  size_t mask_offset = 0;  // where the fused ReLU's bits start in a reserve
};

// Symmetric padding fits cuDNN's descriptors; anything else is padded by hand.
inline bool symmetric_padding(const ConvParams& p) { return p.pad_top == p.pad_bottom && p.pad_left == p.pad_right; }

}  // namespace stride::cuda
