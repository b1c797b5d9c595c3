// Dense layers on cuBLAS. Stride's row-major matrices are cuBLAS's
// column-major transposes, so each product is written for the transposes and
// needs no data moved: y^T = w^T x^T (forward), dx^T = w dy^T (input
// gradient), dw^T = dy^T x (kernel gradient), with cuBLAS's transpose flags
// only. bf16 runs cublasGemmEx on bf16 copies of the inputs with f32
// accumulation and f32 results; tf32 is the handle's math mode.
#include <limits>

#include "cuda_backend.h"
#include "cuda_shapes.h"

namespace stride::cuda {
namespace {

int as_int(int64_t v, const char* what) {
  if (v > std::numeric_limits<int>::max()) fail<ShapeError>("dense: {} of {} exceeds cuBLAS's 32-bit sizes", what, v);
  return static_cast<int>(v);
}

}  // namespace

void CudaBackend::gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
                       const void* b, int64_t ldb, float beta, float* c, int64_t ldc, bool inputs_bf16) {
  const float one = 1.0f;
  const cublasOperation_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int mi = as_int(m, "m"), ni = as_int(n, "n"), ki = as_int(k, "k");
  if (inputs_bf16) {
    STRIDE_CUBLAS_CHECK(cublasGemmEx(cublas_.get(), op_a, op_b, mi, ni, ki, &one, a, CUDA_R_16BF, as_int(lda, "lda"), b,
                                     CUDA_R_16BF, as_int(ldb, "ldb"), &beta, c, CUDA_R_32F, as_int(ldc, "ldc"),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    STRIDE_CUBLAS_CHECK(cublasSgemm(cublas_.get(), op_a, op_b, mi, ni, ki, &one, static_cast<const float*>(a),
                                    as_int(lda, "lda"), static_cast<const float*>(b), as_int(ldb, "ldb"), &beta, c,
                                    as_int(ldc, "ldc")));
  }
}

void CudaBackend::dense_forward(const Tensor& x, const Tensor& w, Tensor& y, const Epilogue& epilogue) {
  check_dense("dense_forward", x.shape(), w.shape(), y.shape());
  check_epilogue("dense_forward", epilogue, y);
  const int64_t n = x.dim(0), in = x.dim(1), out = w.dim(1);
  const bool half = bf16();
  const void* xa = x.raw();
  const void* wa = w.raw();
  if (half) {
    void* staged = grow(dense_a_, x.bytes() / 2);
    launch_to_bf16(x.f32(), static_cast<uint16_t*>(staged), x.elements(), s());
    xa = staged;
    wa = weights_as(w, WeightForm::plain_bf16);
  }
  // y^T [out, n] = w^T [out, in] * x^T [in, n]
  gemm(false, false, out, n, in, wa, out, xa, in, 0.0f, y.f32(), out, half);
  const bool bias = has_bias(epilogue);
  if (bias || epilogue.residual != nullptr || epilogue.activate)
    launch_epilogue(y.f32(), false, bias ? epilogue.bias->f32() : nullptr,
                    epilogue.residual != nullptr ? epilogue.residual->f32() : nullptr, y.f32(), y.elements(), out,
                    act_args(epilogue), s());
}

void CudaBackend::dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  check_dense("dense_backward_data", dx.shape(), w.shape(), dy.shape());
  const int64_t n = dx.dim(0), in = w.dim(0), out = w.dim(1);
  const bool half = bf16();
  const void* ga = dy.raw();
  const void* wa = w.raw();
  if (half) {
    void* staged = grow(dense_a_, dy.bytes() / 2);
    launch_to_bf16(dy.f32(), static_cast<uint16_t*>(staged), dy.elements(), s());
    ga = staged;
    wa = weights_as(w, WeightForm::plain_bf16);
  }
  // dx^T [in, n] = w [in, out] * dy^T [out, n]; w is stored as w^T column-major.
  gemm(true, false, in, n, out, wa, out, ga, out, beta, dx.f32(), in, half);
}

void CudaBackend::dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias, float beta) {
  check_dense("dense_backward_weights", x.shape(), dw.shape(), dy.shape());
  const bool bias = dbias.defined();
  if (bias) check_channels("dense_backward_weights", dy.shape(), {&dbias});
  const int64_t n = x.dim(0), in = x.dim(1), out = dw.dim(1);
  const bool half = bf16();
  const void* xa = x.raw();
  const void* ga = dy.raw();
  if (half) {
    void* staged_x = grow(dense_a_, x.bytes() / 2);
    launch_to_bf16(x.f32(), static_cast<uint16_t*>(staged_x), x.elements(), s());
    void* staged_dy = grow(dense_b_, dy.bytes() / 2);
    launch_to_bf16(dy.f32(), static_cast<uint16_t*>(staged_dy), dy.elements(), s());
    xa = staged_x;
    ga = staged_dy;
  }
  // dw^T [out, in] = dy^T [out, n] * x [n, in]; x is stored as x^T column-major.
  gemm(false, true, out, in, n, ga, out, xa, in, beta, dw.f32(), out, half);
  if (bias) bias_gradient(dy, dbias, beta);
}

}  // namespace stride::cuda
