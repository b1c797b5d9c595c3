// Convolution plans: cuDNN descriptors for NHWC tensors and KRSC filters, and
// the choice of algorithm per op and shape, made once and cached (OpKey).
//
// Choice. By default cudnnFind*AlgorithmEx times every algorithm, on zeroed
// buffers of the op's sizes, with the largest workspace any of them asks for
// (bounded, halved on out-of-memory). With BackendOptions::deterministic, no
// search: cuDNN's heuristic (_v7) order, keeping only bit-reproducible
// algorithms and, in fp32, none of the FFT or Winograd ones (their arithmetic
// is not fp32's). In fp32 the descriptors ask for FMA math, so TF32 tensor
// cores are never used; tf32 allows them; bf16 uses tensor cores on bf16
// data, and an op with no bf16 algorithm for its shape falls back to f32.
//
// Fallback. An algorithm whose workspace cannot be allocated is skipped, and
// one cuDNN refuses at run time ("not supported") gives way to the next. A
// shape with no reproducible algorithm at all gets cuDNN's best other one,
// with a warning, rather than no convolution.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cuda_plans.h"
#include "cuda_shapes.h"

namespace stride::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t{512} << 20;

bool not_supported(cudnnStatus_t status) {
  const int code = static_cast<int>(status);
  return code >= CUDNN_STATUS_NOT_SUPPORTED && code < CUDNN_STATUS_NOT_SUPPORTED + 1000;
}

const char* op_name(ConvOp op) {
  switch (op) {
    case ConvOp::forward:
      return "conv_forward";
    case ConvOp::backward_data:
      return "conv_backward_data";
    case ConvOp::backward_filter:
      return "conv_backward_weights";
  }
  return "conv";
}

int algorithm_count(ConvOp op) {
  switch (op) {
    case ConvOp::forward:
      return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case ConvOp::backward_data:
      return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case ConvOp::backward_filter:
      return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

// FFT and Winograd transforms: fast, but not fp32 arithmetic.
bool transform_algorithm(ConvOp op, int a) {
  switch (op) {
    case ConvOp::forward:
      return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    case ConvOp::backward_data:
      return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
    case ConvOp::backward_filter:
      return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
             a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }
  return false;
}

// The results cuDNN returned that this backend's options allow, in cuDNN's order.
template <typename Perf>
void keep_allowed(const Perf* perf, int returned, ConvOp op, const BackendOptions& options, bool half,
                  bool reproducible, std::vector<ConvPlan::Choice>& out) {
  for (int i = 0; i < returned; ++i) {
    const Perf& r = perf[i];
    const int algorithm = static_cast<int>(r.algo);
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kWorkspaceLimit) continue;
    if (reproducible && r.determinism != CUDNN_DETERMINISTIC) continue;
    const bool fp32 = options.precision == Precision::fp32 && !half;
    if (fp32 && r.mathType != CUDNN_FMA_MATH) continue;
    if (fp32 && options.deterministic && transform_algorithm(op, algorithm)) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const ConvPlan::Choice& c) {
      return c.algorithm == algorithm && c.math == r.mathType;
    });
    if (!seen) out.push_back({algorithm, r.mathType, r.memory});
  }
}

cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvPlan& plan, int algorithm, size_t* bytes) {
  switch (plan.op) {
    case ConvOp::forward:
      return cudnnGetConvolutionForwardWorkspaceSize(h, plan.x.get(), plan.w.get(), plan.conv.get(), plan.y.get(),
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), bytes);
    case ConvOp::backward_data:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(),
                                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), bytes);
    case ConvOp::backward_filter:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(),
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), bytes);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

}  // namespace

bool CudaBackend::ensure_workspace(size_t bytes) {
  if (bytes == 0 || (workspace_.data != nullptr && workspace_.bytes >= bytes)) return true;
  void* fresh = try_allocate(bytes);
  if (fresh == nullptr) return false;
  deallocate(workspace_.data);
  workspace_ = {fresh, bytes};
  return true;
}

ConvPlan& CudaBackend::conv_plan(ConvOp op, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y) {
  OpKey key;
  key.add(op).add(x).add(w).add_window(p);
  if (auto found = conv_plans_.find(key); found != conv_plans_.end()) return *found->second;
  auto plan = std::make_unique<ConvPlan>();
  plan->op = op;
  const bool reproducible = options_.deterministic;
  describe(*plan, p, x, w, y, bf16());
  choose_algorithms(*plan, reproducible);
  if (plan->choices.empty() && plan->half) {
    // No bf16 kernel for this shape: this op of this layer runs in f32.
    describe(*plan, p, x, w, y, false);
    choose_algorithms(*plan, reproducible);
  }
  if (plan->choices.empty() && reproducible) {
    // Better a run that may differ in the last bits than no run: said once per shape.
    choose_algorithms(*plan, false);
    if (!plan->choices.empty())
      spdlog::warn("{}: cuDNN has no reproducible algorithm for input {} and kernel {}; this op may differ run to run",
                   op_name(op), x.str(), w.str());
  }
  if (plan->choices.empty())
    fail<CudnnError>(
        "cuDNN offers no {} algorithm for input {} and kernel {} that fits the options ({}{}) and the "
        "GPU's memory",
        op_name(op), x.str(), w.str(), precision_text(options_.precision),
        options_.deterministic ? ", deterministic" : "");
  STRIDE_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv.get(), plan->choices[plan->current].math));
  ++plans_built_;
  return *conv_plans_.emplace(key, std::move(plan)).first->second;
}

void CudaBackend::describe(ConvPlan& plan, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y,
                           bool half) {
  plan.half = half;
  const bool symmetric = symmetric_padding(p);
  plan.padded = !symmetric;
  plan.padded_h = x[1] + (symmetric ? 0 : p.pad_top + p.pad_bottom);
  plan.padded_w = x[2] + (symmetric ? 0 : p.pad_left + p.pad_right);
  const cudnnDataType_t type = half ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  plan.x = make_tensor_desc();
  STRIDE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan.x.get(), CUDNN_TENSOR_NHWC, type, i32(x[0]), i32(x[3]),
                                                i32(plan.padded_h), i32(plan.padded_w)));
  plan.w = make_filter_desc();
  STRIDE_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(plan.w.get(), type, CUDNN_TENSOR_NHWC, i32(w[3]), i32(w[2]), i32(w[0]), i32(w[1])));
  plan.conv = make_conv_desc();
  STRIDE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan.conv.get(), symmetric ? i32(p.pad_top) : 0,
                                                     symmetric ? i32(p.pad_left) : 0, i32(p.stride_h), i32(p.stride_w),
                                                     1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // What cuDNN may search: FMA only in fp32; TF32 tensor cores allowed in tf32; tensor cores on bf16 data.
  const cudnnMathType_t math = half                                    ? CUDNN_TENSOR_OP_MATH
                               : options_.precision == Precision::fp32 ? CUDNN_FMA_MATH
                                                                       : CUDNN_DEFAULT_MATH;
  STRIDE_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), math));
  int n = 0, c = 0, h = 0, wd = 0;
  STRIDE_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan.conv.get(), plan.x.get(), plan.w.get(), &n, &c, &h, &wd));
  if (n != y[0] || c != y[3] || h != y[1] || wd != y[2])
    fail<ShapeError>("{}: cuDNN computes an output of ({}, {}, {}, {}) where {} is expected", op_name(plan.op), n, h,
                     wd, c, y.str());
  plan.y = make_tensor_desc();
  STRIDE_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(plan.y.get(), CUDNN_TENSOR_NHWC, type, i32(y[0]), i32(y[3]), i32(y[1]), i32(y[2])));
  plan.choices.clear();
  plan.current = 0;
}

void CudaBackend::choose_algorithms(ConvPlan& plan, bool reproducible) {
  cudnnHandle_t h = cudnn_.get();
  const int count = algorithm_count(plan.op);
  cudnnConvolutionFwdAlgoPerf_t forward[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  cudnnConvolutionBwdDataAlgoPerf_t backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  cudnnConvolutionBwdFilterAlgoPerf_t backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int returned = 0;
  if (options_.deterministic) {
    switch (plan.op) {
      case ConvOp::forward:
        STRIDE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x.get(), plan.w.get(), plan.conv.get(),
                                                                  plan.y.get(), count, &returned, forward));
        break;
      case ConvOp::backward_data:
        STRIDE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w.get(), plan.y.get(), plan.conv.get(),
                                                                       plan.x.get(), count, &returned, backward_data));
        break;
      case ConvOp::backward_filter:
        STRIDE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(), count, &returned, backward_filter));
        break;
    }
  } else {
    // A workspace as large as the hungriest algorithm wants (within the limit), halved until it fits in memory.
    size_t wanted = 0;
    for (int algorithm = 0; algorithm < count; ++algorithm) {
      size_t bytes = 0;
      if (workspace_size(h, plan, algorithm, &bytes) == CUDNN_STATUS_SUCCESS && bytes <= kWorkspaceLimit)
        wanted = std::max(wanted, bytes);
    }
    while (wanted > 0 && !ensure_workspace(wanted)) wanted /= 2;
    void* ws = wanted > 0 ? workspace_.data : nullptr;
    // The search runs every algorithm on buffers of its own (zeros): the op's
    // real output may be accumulated into, and its inputs may not exist yet.
    const int64_t esize = plan.half ? 2 : 4;
    int n = 0, c = 0, hh = 0, ww = 0, k = 0, oh = 0, ow = 0;
    const int64_t x_bytes = [&] {
      int sn, sc, sh, sw;
      cudnnDataType_t type;
      STRIDE_CUDNN_CHECK(cudnnGetTensor4dDescriptor(plan.x.get(), &type, &n, &c, &hh, &ww, &sn, &sc, &sh, &sw));
      return int64_t{n} * c * hh * ww * esize;
    }();
    const int64_t y_bytes = [&] {
      int yn, sn, sc, sh, sw;
      cudnnDataType_t type;
      STRIDE_CUDNN_CHECK(cudnnGetTensor4dDescriptor(plan.y.get(), &type, &yn, &k, &oh, &ow, &sn, &sc, &sh, &sw));
      return int64_t{yn} * k * oh * ow * esize;
    }();
    const int64_t w_bytes = [&] {
      int fk, fc, fh, fw;
      cudnnDataType_t type;
      cudnnTensorFormat_t format;
      STRIDE_CUDNN_CHECK(cudnnGetFilter4dDescriptor(plan.w.get(), &type, &format, &fk, &fc, &fh, &fw));
      return int64_t{fk} * fc * fh * fw * esize;
    }();
    Tensor x(*this, Shape{x_bytes}, DType::u8), w(*this, Shape{w_bytes}, DType::u8),
        y(*this, Shape{y_bytes}, DType::u8);
    for (Tensor* t : {&x, &w, &y}) fill(*t, 0.0f);
    switch (plan.op) {
      case ConvOp::forward:
        STRIDE_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, plan.x.get(), x.raw(), plan.w.get(), w.raw(),
                                                                  plan.conv.get(), plan.y.get(), y.raw(), count,
                                                                  &returned, forward, ws, wanted));
        break;
      case ConvOp::backward_data:
        STRIDE_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan.w.get(), w.raw(), plan.y.get(), y.raw(),
                                                                       plan.conv.get(), plan.x.get(), x.raw(), count,
                                                                       &returned, backward_data, ws, wanted));
        break;
      case ConvOp::backward_filter:
        STRIDE_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
            h, plan.x.get(), x.raw(), plan.y.get(), y.raw(), plan.conv.get(), plan.w.get(), w.raw(), count, &returned,
            backward_filter, ws, wanted));
        break;
    }
  }
  switch (plan.op) {
    case ConvOp::forward:
      keep_allowed(forward, returned, plan.op, options_, plan.half, reproducible, plan.choices);
      break;
    case ConvOp::backward_data:
      keep_allowed(backward_data, returned, plan.op, options_, plan.half, reproducible, plan.choices);
      break;
    case ConvOp::backward_filter:
      keep_allowed(backward_filter, returned, plan.op, options_, plan.half, reproducible, plan.choices);
      break;
  }
  // The best algorithm whose workspace can be had comes first; the rest stay as fallbacks.
  while (!plan.choices.empty() && !ensure_workspace(plan.choices.front().workspace))
    plan.choices.erase(plan.choices.begin());
  plan.current = 0;
}

void CudaBackend::run_conv(ConvPlan& plan, const void* a, const void* b, void* out, float beta) {
  const float one = 1.0f;
  for (;;) {
    const ConvPlan::Choice& c = plan.choices[plan.current];
    cudnnStatus_t status = CUDNN_STATUS_NOT_SUPPORTED;
    if (ensure_workspace(c.workspace)) {
      switch (plan.op) {
        case ConvOp::forward:
          status = cudnnConvolutionForward(cudnn_.get(), &one, plan.x.get(), a, plan.w.get(), b, plan.conv.get(),
                                           static_cast<cudnnConvolutionFwdAlgo_t>(c.algorithm), workspace_.data,
                                           c.workspace, &beta, plan.y.get(), out);
          break;
        case ConvOp::backward_data:
          status = cudnnConvolutionBackwardData(cudnn_.get(), &one, plan.w.get(), a, plan.y.get(), b, plan.conv.get(),
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algorithm),
                                                workspace_.data, c.workspace, &beta, plan.x.get(), out);
          break;
        case ConvOp::backward_filter:
          status = cudnnConvolutionBackwardFilter(cudnn_.get(), &one, plan.x.get(), a, plan.y.get(), b, plan.conv.get(),
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algorithm),
                                                  workspace_.data, c.workspace, &beta, plan.w.get(), out);
          break;
      }
      if (status == CUDNN_STATUS_SUCCESS) return;
    }
    // Refused ("not supported" for these buffers) or its workspace could not be had: the next one, from now on.
    if (!not_supported(status) || plan.current + 1 >= plan.choices.size()) {
      if (!ensure_workspace(c.workspace))
        fail<CudaError>("out of GPU memory for a {}-byte cuDNN workspace ({})", c.workspace, op_name(plan.op));
      check_cudnn(status, op_name(plan.op), __FILE__, __LINE__);
    }
    ++plan.current;
    STRIDE_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), plan.choices[plan.current].math));
  }
}

}  // namespace stride::cuda
