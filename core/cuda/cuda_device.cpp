// CUDA device layer: status checks, device discovery, streams and events.
#include <filesystem>

#include "cuda_check.h"
#include "stride/core/backend.h"

namespace stride::cuda {
namespace {

std::string where(const char* file, int line) {
  return std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
}

}  // namespace

void check_cuda(cudaError_t status, const char* expression, const char* file, int line) {
  if (status == cudaSuccess) return;
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

}  // namespace stride::cuda

namespace stride {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  fail<CudaError>("the CUDA backend is not built into this binary yet");
}

bool cuda_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return count > 0;
}

}  // namespace stride
