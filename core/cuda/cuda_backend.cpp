// CudaBackend: construction (device, stream, library handles, the memory
// pool), memory and copies, events, the weight cache, errors that kernels
// report, and the elementwise ops, loss and metrics.
#include "cuda_backend.h"
#include "stride/core/backend_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cuda_plans.h"
#include "cuda_shapes.h"

namespace stride::cuda {
namespace {

// cuBLAS's own workspace: 32 MiB is what NVIDIA recommends for Hopper. Giving
// it one keeps cuBLAS from allocating behind the counters and makes its
// kernel choice reproducible.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
// Label buffers whose first use was checked at once (later uses are checked on
// the device and reported at the next wait); bounded, a handful are in use.
constexpr size_t kCheckedLabelBuffers = 64;

class CudaEvent final : public BackendEvent {
 public:
  explicit CudaEvent(cudaStream_t stream) : stream_(stream), event_(make_event()) {}
  void record() override {
    STRIDE_CUDA_CHECK(cudaEventRecord(event_.get(), stream_));
    recorded_ = true;
  }
  void wait() override {
    if (recorded_) STRIDE_CUDA_CHECK(cudaEventSynchronize(event_.get()));
  }
  bool done() override {
    if (!recorded_) return true;
    const cudaError_t status = cudaEventQuery(event_.get());
    if (status == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    STRIDE_CUDA_CHECK(status);
    return true;
  }

 private:
  cudaStream_t stream_;
  Event event_;
  bool recorded_ = false;
};

std::string version_text(size_t version) {  // cuDNN 9: major * 10000 + minor * 100 + patch
  return fmt::format("{}.{}.{}", version / 10000, version / 100 % 100, version % 100);
}

}  // namespace

CudaBackend::CudaBackend(const BackendOptions& options) : options_(options) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    fail<CudaError>("no CUDA GPU is visible");
  }
  if (options.device < 0 || options.device >= count)
    fail<ConfigError>("CUDA device {} asked for, but {} GPU(s) are visible", options.device, count);
  device_ = options.device;
  STRIDE_CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp properties{};
  STRIDE_CUDA_CHECK(cudaGetDeviceProperties(&properties, device_));
  stream_ = make_stream();

  // Keep freed blocks in the pool: the default threshold (0) hands memory back
  // to the driver at every synchronisation, and the next step would reallocate it.
  cudaMemPool_t pool = nullptr;
  STRIDE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
  uint64_t threshold = std::numeric_limits<uint64_t>::max();
  STRIDE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));

  cudnnHandle_t cudnn = nullptr;
  STRIDE_CUDNN_CHECK(cudnnCreate(&cudnn));
  cudnn_.reset(cudnn);
  STRIDE_CUDNN_CHECK(cudnnSetStream(cudnn, s()));

  cublasHandle_t cublas = nullptr;
  STRIDE_CUBLAS_CHECK(cublasCreate(&cublas));
  cublas_.reset(cublas);
  // cublasSetStream resets the workspace to cuBLAS's own pool: set the stream first.
  STRIDE_CUBLAS_CHECK(cublasSetStream(cublas, s()));
  cublas_workspace_ = allocate(kCublasWorkspaceBytes);
  STRIDE_CUBLAS_CHECK(cublasSetWorkspace(cublas, cublas_workspace_, kCublasWorkspaceBytes));
  STRIDE_CUBLAS_CHECK(cublasSetMathMode(
      cublas, options.precision == Precision::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));

  void* errors = nullptr;
  STRIDE_CUDA_CHECK(cudaHostAlloc(&errors, 2 * sizeof(int32_t), cudaHostAllocMapped));
  device_errors_.reset(errors);
  static_cast<int32_t*>(errors)[0] = static_cast<int32_t*>(errors)[1] = 0;
  void* on_device = nullptr;
  STRIDE_CUDA_CHECK(cudaHostGetDevicePointer(&on_device, errors, 0));
  device_errors_on_device_ = static_cast<int32_t*>(on_device);

  name_ = fmt::format("cuda ({}, sm_{}{}, cuDNN {}, {}{})", properties.name, properties.major, properties.minor,
                      version_text(cudnnGetVersion()), precision_text(options.precision),
                      options.deterministic ? ", deterministic" : "");
}

CudaBackend::~CudaBackend() {
  const cudaError_t status = cudaStreamSynchronize(s());
  if (status == cudaErrorCudartUnloading || status == cudaErrorContextIsDestroyed) {
    // The process is exiting and the runtime is gone: the driver frees everything; the libraries must not be called.
    cudnn_.release();
    cublas_.release();
    stream_.release();
    device_errors_.release();
  }
  for (Scratch* scratch : {&workspace_, &conv_input_, &conv_output_, &conv_gradient_, &partials_, &clip_partials_,
                           &masked_gradient_, &dense_a_, &dense_b_})
    deallocate(scratch->data);
  weights_.clear();
  conv_plans_.clear();
  batchnorm_plans_.clear();
  deallocate(cublas_workspace_);
  cudaStreamSynchronize(s());
  cudaGetLastError();
}

void* CudaBackend::try_allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>((bytes + 255) / 256 * 256, 256);
  void* pointer = nullptr;
  const cudaError_t status = cudaMallocAsync(&pointer, rounded, s());
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  STRIDE_CUDA_CHECK(status);
  ++allocations_;
  return pointer;
}

void* CudaBackend::allocate(size_t bytes) {
  void* pointer = try_allocate(bytes);
  if (pointer == nullptr) fail<CudaError>("out of GPU memory allocating {} bytes on GPU {}", bytes, device_);
  return pointer;
}

void CudaBackend::deallocate(void* pointer) noexcept {
  if (pointer == nullptr) return;
  // A label buffer allocated here later is a new one, to be checked at its first use.
  std::erase(checked_labels_, pointer);
  // Stream-ordered: the block returns to the pool after the work queued so far.
  if (cudaFreeAsync(pointer, s()) != cudaSuccess) cudaGetLastError();
}

void* CudaBackend::allocate_host(size_t bytes) {
  void* pointer = nullptr;
  STRIDE_CUDA_CHECK(cudaMallocHost(&pointer, std::max<size_t>(bytes, 1)));
  ++allocations_;
  return pointer;
}

void CudaBackend::deallocate_host(void* pointer) noexcept {
  if (pointer != nullptr && cudaFreeHost(pointer) != cudaSuccess) cudaGetLastError();
}

void* CudaBackend::grow(Scratch& scratch, size_t bytes) {
  if (scratch.bytes >= bytes && scratch.data != nullptr) return scratch.data;
  void* fresh = allocate(bytes);
  deallocate(scratch.data);
  scratch = {fresh, bytes};
  return fresh;
}

void CudaBackend::copy_from_host(const void* source, Tensor& destination) {
  ++generation_;
  if (destination.bytes() == 0) return;
  // From pageable memory the copy is staged before the call returns; from
  // page-locked memory it is not, and the caller may reuse `source` at once.
  cudaPointerAttributes attributes{};
  const bool pinned =
      cudaPointerGetAttributes(&attributes, source) == cudaSuccess && attributes.type == cudaMemoryTypeHost;
  cudaGetLastError();
  STRIDE_CUDA_CHECK(cudaMemcpyAsync(destination.raw(), source, destination.bytes(), cudaMemcpyHostToDevice, s()));
  if (pinned) STRIDE_CUDA_CHECK(cudaStreamSynchronize(s()));
}

void CudaBackend::copy_from_host_async(const void* source, Tensor& destination) {
  ++generation_;
  if (destination.bytes() == 0) return;
  STRIDE_CUDA_CHECK(cudaMemcpyAsync(destination.raw(), source, destination.bytes(), cudaMemcpyHostToDevice, s()));
}

void CudaBackend::copy_to_host(const Tensor& source, void* destination) {
  if (source.bytes() > 0)
    STRIDE_CUDA_CHECK(cudaMemcpyAsync(destination, source.raw(), source.bytes(), cudaMemcpyDeviceToHost, s()));
  STRIDE_CUDA_CHECK(cudaStreamSynchronize(s()));
  raise_device_errors();
}

void CudaBackend::copy(const Tensor& source, Tensor& destination) {
  ++generation_;
  if (source.bytes() != destination.bytes())
    fail<ShapeError>("copy: {} and {} differ in size", source.shape().str(), destination.shape().str());
  if (source.raw() != destination.raw() && source.bytes() > 0)
    STRIDE_CUDA_CHECK(cudaMemcpyAsync(destination.raw(), source.raw(), source.bytes(), cudaMemcpyDeviceToDevice, s()));
}

void CudaBackend::fill(Tensor& tensor, float value) {
  ++generation_;
  switch (tensor.dtype()) {
    case DType::f32:
      launch_fill_f32(tensor.f32(), tensor.elements(), value, s());
      break;
    case DType::i32:
      launch_fill_i32(tensor.i32(), tensor.elements(), static_cast<int32_t>(value), s());
      break;
    case DType::f64:
      launch_fill_f64(tensor.f64(), tensor.elements(), static_cast<double>(value), s());
      break;
    case DType::u8:
      if (tensor.bytes() > 0)
        STRIDE_CUDA_CHECK(cudaMemsetAsync(tensor.raw(), static_cast<int>(value), tensor.bytes(), s()));
      break;
  }
}

void CudaBackend::synchronize() {
  STRIDE_CUDA_CHECK(cudaStreamSynchronize(s()));
  raise_device_errors();
}

std::unique_ptr<BackendEvent> CudaBackend::make_event() { return std::make_unique<CudaEvent>(s()); }

void CudaBackend::raise_device_errors() {
  auto* flags = static_cast<volatile int32_t*>(device_errors_.get());
  if (flags[0] == 0) return;
  const int32_t label = flags[1];
  flags[0] = 0;
  flags[1] = 0;
  fail<DataError>("label {} out of range [0, {})", label, last_classes_);
}

const void* CudaBackend::weights_as(const Tensor& w, WeightForm form) {
  const bool plain = form == WeightForm::plain_bf16;
  if (!plain && w.shape().rank() != 4) fail<ShapeError>("a convolution kernel must be HWIO, got {}", w.shape().str());
  const int64_t rows = plain ? 1 : w.dim(0) * w.dim(1) * w.dim(2);
  const int64_t cols = plain ? w.elements() : w.dim(3);
  auto found = std::find_if(weights_.begin(), weights_.end(), [&](const WeightEntry& e) {
    return e.source == w.raw() && e.form == form && e.rows == rows && e.cols == cols;
  });
  if (found == weights_.end()) {
    if (weights_.size() >= 512) weights_.clear();  // kernels that came and went (tests); rebuilt on use
    const int64_t bytes = rows * cols * (form == WeightForm::krsc_f32 ? 4 : 2);
    weights_.push_back({w.raw(), form, rows, cols, generation_ + 1, Tensor(*this, Shape{bytes}, DType::u8)});
    ++plans_built_;
    found = weights_.end() - 1;
  }
  if (found->generation != generation_) {
    if (plain)
      launch_to_bf16(w.f32(), static_cast<uint16_t*>(found->storage.raw()), w.elements(), s());
    else
      launch_transpose(w.f32(), false, rows, cols, found->storage.raw(), form == WeightForm::krsc_bf16, 0.0f, s());
    found->generation = generation_;
  }
  return found->storage.raw();
}

void CudaBackend::multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  expect_same_elements(a, b, "multiply");
  expect_same_elements(a, out, "multiply");
  launch_multiply(a.f32(), b.f32(), out.f32(), a.elements(), s());
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& out, const ActivationParams* activation) {
  expect_same_elements(a, b, "add");
  expect_same_elements(a, out, "add");
  launch_add(a.f32(), b.f32(), out.f32(), a.elements(), activation ? act_args(*activation) : ActArgs{}, s());
}

void CudaBackend::scale(Tensor& x, float alpha) {
  ++generation_;
  launch_scale(x.f32(), x.elements(), alpha, s());
}

void CudaBackend::argmax_rows(const Tensor& x, Tensor& out) {
  if (x.shape().rank() != 2 || out.elements() != x.dim(0))
    fail<ShapeError>("argmax_rows: {} into {}", x.shape().str(), out.shape().str());
  launch_argmax_rows(x.f32(), x.dim(0), x.dim(1), out.i32(), s());
}

void CudaBackend::dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                                  Tensor& mask) {
  expect_same_elements(x, y, "dropout");
  expect_same_elements(x, mask, "dropout mask");
  const float keep_scale = rate < 1.0f ? 1.0f / (1.0f - rate) : 0.0f;
  launch_dropout(x.f32(), y.f32(), mask.f32(), x.elements(), rate, keep_scale, key, element_offset, s());
}

void CudaBackend::activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) {
  if (x.elements() != y.elements()) fail<ShapeError>("activation: {} into {}", x.shape().str(), y.shape().str());
  launch_activation_forward(x.f32(), y.f32(), x.elements(), act_args(p), s());
}

void CudaBackend::activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                      Tensor& dx) {
  const bool from_output = !x.defined();
  const Tensor& source = from_output ? y : x;
  if (source.elements() != dy.elements() || source.elements() != dx.elements())
    fail<ShapeError>("activation_backward: {} vs {}", source.shape().str(), dy.shape().str());
  if (from_output && p.kind == ActivationKind::leaky_relu && p.alpha < 0)
    fail<ShapeError>("activation_backward: leaky relu with a negative slope needs its input");
  launch_activation_backward(source.f32(), from_output, dy.f32(), dx.f32(), dy.elements(), act_args(p), s());
}

void CudaBackend::softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing,
                                        float grad_scale, Tensor& probabilities, Tensor& losses, Tensor& dlogits) {
  if (logits.shape().rank() != 2) fail<ShapeError>("softmax_cross_entropy: logits {} not [N,K]", logits.shape().str());
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (labels.elements() != n || losses.elements() != n || probabilities.elements() != n * k ||
      dlogits.elements() != n * k)
    fail<ShapeError>("softmax_cross_entropy: logits {}, labels {}, losses {} do not fit", logits.shape().str(),
                     labels.shape().str(), losses.shape().str());
  raise_device_errors();  // from an earlier batch, seen by the host since
  last_classes_ = k;
  launch_softmax_cross_entropy(logits.f32(), labels.i32(), n, k, label_smoothing, grad_scale, probabilities.f32(),
                               losses.f32(), dlogits.f32(), device_errors_on_device_, s());
  // A label buffer's first batch is checked at once (one wait), so a bad
  // dataset fails on its first step; the steady state (a loader's staging
  // buffers, always the same) stays free of waits and reports at the next one.
  if (std::find(checked_labels_.begin(), checked_labels_.end(), labels.raw()) == checked_labels_.end()) {
    if (checked_labels_.size() >= kCheckedLabelBuffers) checked_labels_.clear();
    checked_labels_.push_back(labels.raw());
    synchronize();
  }
}

void CudaBackend::accumulate_classification(const Tensor& logits, const Tensor& labels, const Tensor& losses,
                                            Tensor& totals, Tensor& confusion) {
  check_classification_shapes(logits, labels, losses, totals, confusion);
  const int64_t n = logits.dim(0), k = logits.dim(1);
  launch_accumulate_classification(logits.f32(), labels.i32(), losses.f32(), n, k, totals.f64(),
                                   confusion.defined() ? confusion.i32() : nullptr, s());
}

}  // namespace stride::cuda
