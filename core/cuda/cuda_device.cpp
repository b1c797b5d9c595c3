// CUDA device layer: status checks (the one place CUDA, cuBLAS and cuDNN
// codes become typed errors), the launch check the kernels call, RAII
// factories, device discovery and the backend's factory.
#include <filesystem>

#include "cuda_backend.h"
#include "cuda_check.h"
#include "launch.h"
#include "stride/core/backend.h"

namespace stride::cuda {
namespace {

std::string where(const char* file, int line) {
  return std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
}

}  // namespace

void check_cuda(cudaError_t status, const char* expression, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // a non-sticky error must not resurface at the next launch check
  fail<CudaError>("CUDA: {} ({} at {})", cudaGetErrorString(status), expression, where(file, line));
}

void check_cublas(cublasStatus_t status, const char* expression, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail<CublasError>("cuBLAS: {} ({} at {})", cublasGetStatusString(status), expression, where(file, line));
}

void check_cudnn(cudnnStatus_t status, const char* expression, const char* file, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  fail<CudnnError>("cuDNN: {} ({} at {})", cudnnGetErrorString(status), expression, where(file, line));
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return;
  fail<CudaError>("CUDA: launching kernel {}: {}", kernel, cudaGetErrorString(status));
}

Stream make_stream() {
  cudaStream_t stream = nullptr;
  STRIDE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return Stream(stream);
}

Event make_event() {
  cudaEvent_t event = nullptr;
  STRIDE_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return Event(event);
}

TensorDesc make_tensor_desc() {
  cudnnTensorDescriptor_t d = nullptr;
  STRIDE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  return TensorDesc(d);
}

FilterDesc make_filter_desc() {
  cudnnFilterDescriptor_t d = nullptr;
  STRIDE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  return FilterDesc(d);
}

ConvDesc make_conv_desc() {
  cudnnConvolutionDescriptor_t d = nullptr;
  STRIDE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  return ConvDesc(d);
}

}  // namespace stride::cuda

namespace stride {

bool cuda_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return count > 0;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  if (!cuda_available()) fail<CudaError>("no CUDA GPU is visible");
  return std::make_unique<cuda::CudaBackend>(options);
}

}  // namespace stride
