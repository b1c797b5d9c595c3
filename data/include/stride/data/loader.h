// The streaming loader: batches of float32 NHWC images from a split's shards,
// with bounded memory, for one rank of a data-parallel job.
//
// The epoch order is a function of (seed, epoch, split, limit) and the shard
// layout only — never of the rank count or the worker count: HDF5 chunks are
// permuted across all shards, grouped into windows of about `shuffle_window`
// images, and shuffled within each window. Global step s covers positions
// [s*B*world, (s+1)*B*world) of that order; rank r takes the r-th contiguous
// part. So N ranks with batch B/N see exactly the batches one rank with batch
// B sees, and an image's augmentation, keyed by (seed, epoch, image index),
// is the same wherever it is computed.
//
// Tail of the epoch: keep — the last global batch is smaller and split as
// evenly as possible (when it has fewer images than ranks, it is padded to one
// image per rank with the first images of the epoch's order, so no rank runs
// short of steps); drop — the partial last global batch is skipped; pad — it
// is filled up to B*world with the first images of the epoch's order.
//
// Memory: one reader thread holds at most two windows of uint8 images; worker
// threads augment into a ring of max(prefetch, workers) + 1 batch buffers.
// Everything is allocated in the constructor; bytes_held() says how much.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "stride/data/augment.h"
#include "stride/data/manifest.h"

namespace stride::data {

enum class TailPolicy { keep, drop, pad };

// "keep" | "drop" | "pad"; ConfigError naming the value otherwise.
TailPolicy parse_tail_policy(const std::string& name);

struct LoaderOptions {
  std::string split = "train";
  int64_t batch_size = 32;  // per rank
  bool shuffle = true;
  bool augment = false;  // apply `augmentation` (training only; evaluation never)
  AugmentOptions augmentation;
  uint64_t seed = 0;
  int rank = 0, world = 1;
  TailPolicy tail = TailPolicy::keep;
  int64_t limit = 0;                // > 0: use only the first `limit` images of the split
  int workers = 1;                  // decode/augment threads
  int prefetch = 4;                 // ready batches queued ahead
  int64_t shuffle_window = 16384;   // images in the shuffle window
  bool verify_checksums = true;
};

struct Batch {
  int64_t size;            // images for this rank in this step
  int64_t global_size;     // images in this step across all ranks (gradient scale = 1/global_size)
  int64_t step;            // index within the epoch
  const float* images;     // [size, H, W, C] float32, NHWC
  const int32_t* labels;   // [size]
  const int64_t* indices;  // [size] index of each image within the split (for tests and debugging)
};

class Loader {
 public:
  // Opens and validates the split's shards (and their checksums when asked).
  // No epoch is running until start_epoch().
  Loader(const Manifest& manifest, LoaderOptions options);
  ~Loader();  // joins its threads; never throws
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t steps_per_epoch() const;    // identical on every rank
  int64_t samples_per_epoch() const;  // this rank
  int64_t split_size() const;         // images in the split after `limit`
  ImageShape shape() const;

  void start_epoch(int64_t epoch);  // may be called again to restart; order = f(seed, epoch)
  // Blocks until the next batch is ready; nullptr at epoch end. Valid until the
  // next call. Rethrows an exception raised on a reader or worker thread.
  const Batch* next();
  double wait_seconds() const;  // time next() spent blocked this epoch
  // Resume mid-epoch: skip this many steps without reading or augmenting them.
  void skip(int64_t steps);

  // Bytes of every buffer the loader owns (windows, batches, scratch, order).
  int64_t bytes_held() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stride::data
