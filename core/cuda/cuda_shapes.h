// Shape checks of the CUDA backend's ops, with the CPU backend's messages: a
// ShapeError naming the op, raised on the host before anything is queued.
#pragma once

#include <initializer_list>

#include "kernels.h"
#include "stride/common/error.h"
#include "stride/core/backend.h"

namespace stride::cuda {

inline void expect_same_elements(const Tensor& a, const Tensor& b, const char* op) {
  if (a.elements() != b.elements())
    fail<ShapeError>("{}: {} and {} differ in size", op, a.shape().str(), b.shape().str());
}

template <typename Params>
void check_window(const char* op, const Params& p, const Shape& x, const Shape& y, int64_t out_channels) {
  if (x.rank() != 4 || y.rank() != 4 || x[0] != y[0] || y[3] != out_channels ||
      y[1] != window_output_size(x[1], p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom) ||
      y[2] != window_output_size(x[2], p.kernel_w, p.stride_w, p.pad_left, p.pad_right))
    fail<ShapeError>("{}: input {} and output {} do not fit kernel {}x{} stride {}x{}", op, x.str(), y.str(),
                     p.kernel_h, p.kernel_w, p.stride_h, p.stride_w);
}

inline void check_conv(const char* op, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y) {
  if (w.rank() != 4 || w[0] != p.kernel_h || w[1] != p.kernel_w || x.rank() != 4 || w[2] != x[3])
    fail<ShapeError>("{}: kernel {} does not fit input {}", op, w.str(), x.str());
  check_window(op, p, x, y, w[3]);
}

inline void check_dense(const char* op, const Shape& x, const Shape& w, const Shape& y) {
  if (x.rank() != 2 || w.rank() != 2 || y.rank() != 2 || x[1] != w[0] || y[1] != w[1] || x[0] != y[0])
    fail<ShapeError>("{}: input {}, kernel {} and output {} do not fit", op, x.str(), w.str(), y.str());
}

inline void check_channels(const char* op, const Shape& x, std::initializer_list<const Tensor*> per_channel) {
  for (const Tensor* t : per_channel)
    if (t->elements() != x[x.rank() - 1])
      fail<ShapeError>("{}: per-channel tensor {} does not fit input {}", op, t->shape().str(), x.str());
}

inline bool has_bias(const Epilogue& e) { return e.bias != nullptr && e.bias->defined(); }

inline void check_epilogue(const char* op, const Epilogue& e, const Tensor& y) {
  if (has_bias(e) && e.bias->elements() != y.dim(y.shape().rank() - 1))
    fail<ShapeError>("{}: bias {} does not fit output {}", op, e.bias->shape().str(), y.shape().str());
  if (e.residual != nullptr && e.residual->shape() != y.shape())
    fail<ShapeError>("{}: residual {} does not fit output {}", op, e.residual->shape().str(), y.shape().str());
}

inline ActArgs act_args(const ActivationParams& p) {
  switch (p.kind) {
    case ActivationKind::relu:
      return {1, 0.0f};
    case ActivationKind::leaky_relu:
      return {2, p.alpha};
    case ActivationKind::elu:
      return {3, p.alpha};
  }
  return {};
}

// precision_name() lives in stride_core, which links this library: a copy keeps the dependency one way.
inline const char* precision_text(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return "fp32";
    case Precision::tf32:
      return "tf32";
    case Precision::bf16:
      return "bf16";
  }
  return "?";
}

inline ActArgs act_args(const Epilogue& e) { return e.activate ? act_args(e.activation) : ActArgs{}; }

}  // namespace stride::cuda
