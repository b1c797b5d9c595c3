// Per-channel sums over the rows of an NHWC (or [N, F]) tensor: bias
// gradients and the statistics of batch norm. Two passes with no atomics, so
// every run adds in the same order: blocks of 32 channels x 8 row lanes sum a
// chunk of rows each into double partials, then one thread per channel adds
// the chunks in order and applies the kind's final step.
#include <cmath>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

constexpr int kChannelsPerBlock = 32;
constexpr int kRowLanes = 8;
constexpr int64_t kRowsPerChunk = 128;
constexpr int64_t kMaxChunks = 512;
constexpr int64_t kMaxPartialsPerSum = int64_t{1} << 21;

int64_t chunks_for(int64_t rows, int64_t channels) {
  int64_t chunks = std::clamp<int64_t>((rows + kRowsPerChunk - 1) / kRowsPerChunk, 1, kMaxChunks);
  return std::max<int64_t>(1, std::min<int64_t>(chunks, kMaxPartialsPerSum / std::max<int64_t>(channels, 1)));
}

// ---- kernels ----

__global__ void channel_partials_kernel(ChannelSumArgs args, int64_t chunks, double* partials) {
  __shared__ double part1[kRowLanes][kChannelsPerBlock];
  __shared__ double part2[kRowLanes][kChannelsPerBlock];
  const int64_t channels = args.channels;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kChannelsPerBlock + threadIdx.x;
  const int64_t per_chunk = (args.rows + chunks - 1) / chunks;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * per_chunk, end = min(args.rows, begin + per_chunk);
  double s1 = 0, s2 = 0;
  if (c < channels) {
    const double center = args.center != nullptr ? static_cast<double>(args.center[c]) : 0.0;
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) {
      const float a = args.a[r * channels + c];
      switch (args.kind) {
        case ChannelSum::sum:
          s1 += a;
          break;
        case ChannelSum::bn_forward: {
          const double d = static_cast<double>(a) - center;
          s1 += d;
          s2 += d * d;
          break;
        }
        case ChannelSum::bn_backward:
        case ChannelSum::bn_inference_parameters: {
          const float g = args.b[r * channels + c];
          s1 += g;
          s2 += static_cast<double>(g) * (static_cast<double>(a) - center);
          break;
        }
      }
    }
  }
  part1[threadIdx.y][threadIdx.x] = s1;
  part2[threadIdx.y][threadIdx.x] = s2;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    double t1 = 0, t2 = 0;
    for (int j = 0; j < kRowLanes; ++j) {
      t1 += part1[j][threadIdx.x];
      t2 += part2[j][threadIdx.x];
    }
    partials[chunk * channels + c] = t1;
    partials[(chunks + chunk) * channels + c] = t2;
  }
}

__global__ void channel_finish_kernel(ChannelSumArgs args, int64_t chunks, const double* partials) {
  const int64_t channels = args.channels;
  STRIDE_GRID_LOOP(c, channels) {
    double s1 = 0, s2 = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      s1 += partials[chunk * channels + c];
      s2 += partials[(chunks + chunk) * channels + c];
    }
    const float rows = static_cast<float>(args.rows);
    switch (args.kind) {
      case ChannelSum::sum:
        args.out0[c] = args.beta == 0.0f ? static_cast<float>(s1) : args.beta * args.out0[c] + static_cast<float>(s1);
        break;
      case ChannelSum::bn_forward:
        args.out0[c] = static_cast<float>(s1);
        args.out0[channels + c] = static_cast<float>(s2);
        if (c == 0) args.out0[2 * channels] = rows;
        break;
      case ChannelSum::bn_backward:
        args.out0[c] = static_cast<float>(s1);
        args.out0[channels + c] =
            static_cast<float>(s2 / sqrt(static_cast<double>(args.var[c]) + static_cast<double>(args.epsilon)));
        if (c == 0) args.out0[2 * channels] = rows;
        break;
      case ChannelSum::bn_inference_parameters:
        args.out0[c] =
            static_cast<float>(s2 / sqrt(static_cast<double>(args.var[c]) + static_cast<double>(args.epsilon)));
        args.out1[c] = static_cast<float>(s1);
        break;
    }
  }
}

}  // namespace

// ---- launchers ----

int64_t channel_sum_partials(int64_t rows, int64_t channels) { return 2 * chunks_for(rows, channels) * channels; }

void launch_channel_sums(const ChannelSumArgs& args, double* partials, cudaStream_t stream) {
  if (args.channels == 0) return;
  const int64_t chunks = chunks_for(args.rows, args.channels);
  const dim3 grid(static_cast<unsigned>((args.channels + kChannelsPerBlock - 1) / kChannelsPerBlock),
                  static_cast<unsigned>(chunks));
  channel_partials_kernel<<<grid, dim3(kChannelsPerBlock, kRowLanes), 0, stream>>>(args, chunks, partials);
  check_launch("channel_partials");
  channel_finish_kernel<<<blocks_for(args.channels), kThreads, 0, stream>>>(args, chunks, partials);
  check_launch("channel_finish");
}

}  // namespace stride::cuda
