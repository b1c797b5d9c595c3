// CUDA, cuBLAS and cuDNN status checks: each failing call becomes a typed
// stride error carrying the expression, file and line. RAII owners for
// streams, events, library handles and cuDNN descriptors.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "stride/common/error.h"
#include "stride/common/handle.h"

namespace stride::cuda {

void check_cuda(cudaError_t status, const char* expression, const char* file, int line);
void check_cublas(cublasStatus_t status, const char* expression, const char* file, int line);
void check_cudnn(cudnnStatus_t status, const char* expression, const char* file, int line);

#define STRIDE_CUDA_CHECK(expr) ::stride::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define STRIDE_CUBLAS_CHECK(expr) ::stride::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
#define STRIDE_CUDNN_CHECK(expr) ::stride::cuda::check_cudnn((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: configuration errors surface here, not at the next sync.
#define STRIDE_CUDA_CHECK_LAUNCH() STRIDE_CUDA_CHECK(cudaGetLastError())

struct StreamTraits {
  static cudaStream_t invalid() noexcept { return nullptr; }
  static void close(cudaStream_t s) noexcept { cudaStreamDestroy(s); }
};
struct EventTraits {
  static cudaEvent_t invalid() noexcept { return nullptr; }
  static void close(cudaEvent_t e) noexcept { cudaEventDestroy(e); }
};
struct CudnnTraits {
  static cudnnHandle_t invalid() noexcept { return nullptr; }
  static void close(cudnnHandle_t h) noexcept { cudnnDestroy(h); }
};
struct CublasTraits {
  static cublasHandle_t invalid() noexcept { return nullptr; }
  static void close(cublasHandle_t h) noexcept { cublasDestroy(h); }
};

struct TensorDescTraits {
  static cudnnTensorDescriptor_t invalid() noexcept { return nullptr; }
  static void close(cudnnTensorDescriptor_t d) noexcept { cudnnDestroyTensorDescriptor(d); }
};
struct FilterDescTraits {
  static cudnnFilterDescriptor_t invalid() noexcept { return nullptr; }
  static void close(cudnnFilterDescriptor_t d) noexcept { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDescTraits {
  static cudnnConvolutionDescriptor_t invalid() noexcept { return nullptr; }
  static void close(cudnnConvolutionDescriptor_t d) noexcept { cudnnDestroyConvolutionDescriptor(d); }
};
struct PinnedTraits {
  static void* invalid() noexcept { return nullptr; }
  static void close(void* p) noexcept { cudaFreeHost(p); }
};

using Stream = UniqueHandle<cudaStream_t, StreamTraits>;
using Event = UniqueHandle<cudaEvent_t, EventTraits>;
using CudnnHandle = UniqueHandle<cudnnHandle_t, CudnnTraits>;
using CublasHandle = UniqueHandle<cublasHandle_t, CublasTraits>;
using TensorDesc = UniqueHandle<cudnnTensorDescriptor_t, TensorDescTraits>;
using FilterDesc = UniqueHandle<cudnnFilterDescriptor_t, FilterDescTraits>;
using ConvDesc = UniqueHandle<cudnnConvolutionDescriptor_t, ConvDescTraits>;
using PinnedMemory = UniqueHandle<void*, PinnedTraits>;

Stream make_stream();
Event make_event();
TensorDesc make_tensor_desc();
FilterDesc make_filter_desc();
ConvDesc make_conv_desc();

}  // namespace stride::cuda
