// Layout kernels: the explicit zero padding that asymmetric "same" windows
// need (cuDNN's legacy descriptors pad symmetrically only) and the crop that
// undoes it for gradients; the tiled transpose between Stride's HWIO kernels
// ([KH*KW*C, K]) and cuDNN's KRSC filters ([K, KH*KW*C]); and the f32 <-> bf16
// conversions of mixed precision (round to nearest even).
#include <cuda_bf16.h>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

// ---- kernels ----

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename Out>
__global__ void pad_kernel(const float* x, int64_t h, int64_t w, int64_t c, int64_t pad_top, int64_t pad_left,
                           int64_t padded_h, int64_t padded_w, Out* out, int64_t total) {
  STRIDE_GRID_LOOP(i, total) {
    const int64_t ch = i % c;
    const int64_t pw = i / c % padded_w;
    const int64_t ph = i / (c * padded_w) % padded_h;
    const int64_t b = i / (c * padded_w * padded_h);
    const int64_t sh = ph - pad_top, sw = pw - pad_left;
    const bool inside = sh >= 0 && sh < h && sw >= 0 && sw < w;
    out[i] = from_float<Out>(inside ? x[((b * h + sh) * w + sw) * c + ch] : 0.0f);
  }
}

template <typename In>
__global__ void crop_kernel(const In* in, int64_t padded_h, int64_t padded_w, int64_t c, int64_t pad_top,
                            int64_t pad_left, float* out, int64_t h, int64_t w, float beta, int64_t total) {
  STRIDE_GRID_LOOP(i, total) {
    const int64_t ch = i % c;
    const int64_t x = i / c % w;
    const int64_t y = i / (c * w) % h;
    const int64_t b = i / (c * w * h);
    const float v = to_float(in[((b * padded_h + y + pad_top) * padded_w + x + pad_left) * c + ch]);
    out[i] = beta == 0.0f ? v : beta * out[i] + v;
  }
}

constexpr int kTile = 32;
constexpr int kTileRows = 8;

// out[col][row] = in[row][col], 32x32 tiles through shared memory (the +1 column avoids bank conflicts).
template <typename In, typename Out>
__global__ void transpose_kernel(const In* in, int64_t rows, int64_t cols, Out* out, float beta) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  for (int64_t tr = blockIdx.y; tr < tiles_r; tr += gridDim.y)
    for (int64_t tc = blockIdx.x; tc < tiles_c; tc += gridDim.x) {
      for (int j = 0; j < kTile; j += kTileRows) {
        const int64_t r = tr * kTile + threadIdx.y + j, c = tc * kTile + threadIdx.x;
        if (r < rows && c < cols) tile[threadIdx.y + j][threadIdx.x] = to_float(in[r * cols + c]);
      }
      __syncthreads();
      for (int j = 0; j < kTile; j += kTileRows) {
        const int64_t c = tc * kTile + threadIdx.y + j, r = tr * kTile + threadIdx.x;
        if (r < rows && c < cols) {
          const float v = tile[threadIdx.x][threadIdx.y + j];
          Out* o = out + c * rows + r;
          if constexpr (sizeof(Out) == sizeof(float)) {
            *o = beta == 0.0f ? v : beta * to_float(*o) + v;
          } else {
            *o = from_float<Out>(v);
          }
        }
      }
      __syncthreads();  // the tile is refilled by the next iteration
    }
}

__global__ void to_bf16_kernel(const float* in, __nv_bfloat16* out, int64_t n) {
  STRIDE_GRID_LOOP(i, n) out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void from_bf16_kernel(const __nv_bfloat16* in, float* out, int64_t n, float beta) {
  STRIDE_GRID_LOOP(i, n) {
    const float v = __bfloat162float(in[i]);
    out[i] = beta == 0.0f ? v : beta * out[i] + v;
  }
}

template <typename In, typename Out>
void transpose_as(const void* in, int64_t rows, int64_t cols, void* out, float beta, cudaStream_t stream) {
  const dim3 block(kTile, kTileRows);
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles_c, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(tiles_r, 65535)));
  transpose_kernel<<<grid, block, 0, stream>>>(static_cast<const In*>(in), rows, cols, static_cast<Out*>(out), beta);
}

}  // namespace

// ---- launchers ----

void launch_pad_nhwc(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t pad_top, int64_t pad_left,
                     int64_t padded_h, int64_t padded_w, void* out, bool out_bf16, cudaStream_t stream) {
  const int64_t total = n * padded_h * padded_w * c;
  if (total == 0) return;
  if (out_bf16)
    pad_kernel<<<blocks_for(total), kThreads, 0, stream>>>(x, h, w, c, pad_top, pad_left, padded_h, padded_w,
                                                           static_cast<__nv_bfloat16*>(out), total);
  else
    pad_kernel<<<blocks_for(total), kThreads, 0, stream>>>(x, h, w, c, pad_top, pad_left, padded_h, padded_w,
                                                           static_cast<float*>(out), total);
  check_launch("pad_nhwc");
}

void launch_crop_nhwc(const void* in, bool in_bf16, int64_t n, int64_t padded_h, int64_t padded_w, int64_t c,
                      int64_t pad_top, int64_t pad_left, float* out, int64_t h, int64_t w, float beta,
                      cudaStream_t stream) {
  const int64_t total = n * h * w * c;
  if (total == 0) return;
  if (in_bf16)
    crop_kernel<<<blocks_for(total), kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(in), padded_h, padded_w,
                                                            c, pad_top, pad_left, out, h, w, beta, total);
  else
    crop_kernel<<<blocks_for(total), kThreads, 0, stream>>>(static_cast<const float*>(in), padded_h, padded_w, c,
                                                            pad_top, pad_left, out, h, w, beta, total);
  check_launch("crop_nhwc");
}

void launch_transpose(const void* in, bool in_bf16, int64_t rows, int64_t cols, void* out, bool out_bf16, float beta,
                      cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  if (in_bf16 && out_bf16)
    transpose_as<__nv_bfloat16, __nv_bfloat16>(in, rows, cols, out, beta, stream);
  else if (in_bf16)
    transpose_as<__nv_bfloat16, float>(in, rows, cols, out, beta, stream);
  else if (out_bf16)
    transpose_as<float, __nv_bfloat16>(in, rows, cols, out, beta, stream);
  else
    transpose_as<float, float>(in, rows, cols, out, beta, stream);
  check_launch("transpose");
}

void launch_to_bf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(in, reinterpret_cast<__nv_bfloat16*>(out), n);
  check_launch("to_bf16");
}

void launch_from_bf16(const uint16_t* in, float* out, int64_t n, float beta, cudaStream_t stream) {
  if (n == 0) return;
  from_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(in), out, n, beta);
  check_launch("from_bf16");
}

}  // namespace stride::cuda
