// CUDA backend ops on Stride's kernels alone: pooling, and the optimizer
// updates and clipping over the parameter arena. Arena segments are copied
// into kernel arguments (SegmentTable), so an update is one launch with no
// host-to-device copy; a list longer than one table takes one launch per table.
#include <cmath>

#include "cuda_backend.h"
#include "cuda_shapes.h"
#include "stride/core/backend_checks.h"

namespace stride::cuda {
namespace {

// Calls run(table) for each table of up to kMaxSegmentsPerLaunch segments, in order.
template <typename Run>
void for_tables(std::span<const ArenaSegment> segments, float weight_decay, Run&& run) {
  SegmentTable table;
  auto flush = [&] {
    if (table.size > 0) run(table);
    table = SegmentTable{};
  };
  for (const ArenaSegment& s : segments) {
    if (s.count == 0) continue;
    if (table.size == kMaxSegmentsPerLaunch) flush();
    SegmentRun& r = table.runs[table.size++];
    r.offset = s.offset;
    r.count = s.count;
    r.begin = table.total;
    r.decay = s.decay ? weight_decay : 0.0f;
    table.total += s.count;
  }
  flush();
}

PoolGeometry geometry(const PoolParams& p, const Shape& x, const Shape& y) {
  PoolGeometry g;
  g.n = x[0], g.h = x[1], g.w = x[2], g.c = x[3];
  g.out_h = y[1], g.out_w = y[2];
  g.kernel_h = p.kernel_h, g.kernel_w = p.kernel_w;
  g.stride_h = p.stride_h, g.stride_w = p.stride_w;
  g.pad_top = p.pad_top, g.pad_left = p.pad_left;
  g.max = p.kind == PoolKind::max;
  return g;
}

}  // namespace

// Max pooling's backward recomputes each window's maximum from x: nothing to keep.
size_t CudaBackend::pool_workspace_bytes(const PoolParams&, const Shape&, const Shape&) { return 0; }

void CudaBackend::pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  (void)workspace;
  check_window("pool_forward", p, x.shape(), y.shape(), x.dim(3));
  launch_pool_forward(geometry(p, x.shape(), y.shape()), x.f32(), y.f32(), s());
}

void CudaBackend::pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                const Tensor& workspace, Tensor& dx) {
  (void)y, (void)workspace;
  check_window("pool_backward", p, dx.shape(), dy.shape(), dx.dim(3));
  if (p.kind == PoolKind::max && (!x.defined() || x.shape() != dx.shape()))
    fail<ShapeError>("pool_backward: max pooling on CUDA needs the forward's input {}", dx.shape().str());
  launch_pool_backward(geometry(p, dx.shape(), dy.shape()), x.defined() ? x.f32() : nullptr, dy.f32(), dx.f32(), s());
}

void CudaBackend::adam_update(const AdamParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                              Tensor& m, Tensor& v) {
  check_arena_segments(segments, {&w, &g, &m, &v}, "adam");
  ++generation_;
  AdamArgs args;
  args.beta1 = p.beta1;
  args.beta2 = p.beta2;
  args.epsilon = p.epsilon;
  args.lr = p.lr;
  args.decoupled = p.decoupled;
  // The CPU backend's float arithmetic, in its order.
  const float bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(p.step));
  args.sqrt_bias_correction2 = std::sqrt(1.0f - std::pow(p.beta2, static_cast<float>(p.step)));
  args.step_size = p.lr / bias_correction1;
  for_tables(segments, p.weight_decay,
             [&](const SegmentTable& table) { launch_adam(table, args, w.f32(), g.f32(), m.f32(), v.f32(), s()); });
}

void CudaBackend::sgd_update(const SgdParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                             Tensor& velocity) {
  const bool momentum = p.momentum != 0.0f;
  if (momentum)
    check_arena_segments(segments, {&w, &g, &velocity}, "sgd");
  else
    check_arena_segments(segments, {&w, &g}, "sgd");
  ++generation_;
  SgdArgs args;
  args.lr = p.lr;
  args.momentum = p.momentum;
  args.nesterov = p.nesterov;
  for_tables(segments, p.weight_decay, [&](const SegmentTable& table) {
    launch_sgd(table, args, w.f32(), g.f32(), momentum ? velocity.f32() : nullptr, s());
  });
}

void CudaBackend::clip_by_global_norm(std::span<const ArenaSegment> segments, Tensor& g, float max_norm, Tensor& norm) {
  check_arena_segments(segments, {&g}, "clip_by_global_norm");
  if (norm.elements() != 1) fail<ShapeError>("clip_by_global_norm: norm {} is not one value", norm.shape().str());
  if (max_norm > 0) ++generation_;  // g may be scaled (the device decides)
  auto* partials = static_cast<double*>(grow(clip_partials_, static_cast<size_t>(clip_partials()) * sizeof(double)));
  bool first = true;
  for_tables(segments, 0.0f, [&](const SegmentTable& table) {
    launch_sum_squares(table, g.f32(), partials, !first, s());
    first = false;
  });
  if (first) launch_sum_squares(SegmentTable{}, g.f32(), partials, false, s());  // no segments: a norm of 0
  first = true;
  for_tables(segments, 0.0f, [&](const SegmentTable& table) {
    launch_clip_scale(table, g.f32(), partials, norm.f32(), first, max_norm, s());
    first = false;
  });
  if (first) launch_clip_scale(SegmentTable{}, g.f32(), partials, norm.f32(), true, max_norm, s());
}

}  // namespace stride::cuda
