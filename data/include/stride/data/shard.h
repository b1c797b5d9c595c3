// One HDF5 shard: `images` uint8 [N,H,W,C] chunked along N (optionally
// gzip + shuffle), `labels` int32 [N], and attributes format="stride-shard",
// version, split, num_classes, class_names, source — a layout h5py reads as is.
// The writer knows N up front and streams rows in; the reader checks the whole
// layout when it opens a file, so later reads can only fail on corrupt bytes.
// Every failure is a DataError that starts with the shard's path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stride/common/h5.h"
#include "stride/data/manifest.h"

namespace stride::data {

inline constexpr const char* kShardFormat = "stride-shard";
inline constexpr int64_t kShardVersion = 1;

struct ShardMeta {
  std::string split;
  std::string source;
  std::vector<std::string> class_names;
};

struct ShardWriteOptions {
  int64_t chunk_images = 256;  // images per HDF5 chunk (clamped to the shard size)
  bool gzip = false;           // gzip level 4 with the shuffle filter
};

class ShardWriter {
 public:
  // Creates (truncates) `path` for exactly `count` images of `shape`.
  ShardWriter(std::string path, int64_t count, ImageShape shape, const ShardMeta& meta,
              const ShardWriteOptions& options);
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends `count` images (HWC bytes each) and their labels.
  void append(const uint8_t* images, const int32_t* labels, int64_t count);
  // Flushes and closes; fails unless exactly the promised count was appended.
  void close();
  int64_t written() const { return written_; }

 private:
  std::string path_;
  int64_t count_;
  ImageShape shape_;
  int64_t written_ = 0;
  h5::File file_;
  h5::Dataset images_, labels_;
};

class ShardReader {
 public:
  // Opens and validates a shard: format attribute, both datasets present with
  // the right type and rank, labels count == images count, and the image shape
  // equal to `expected` unless that is all zeros.
  explicit ShardReader(std::string path, ImageShape expected = {});
  ShardReader(ShardReader&&) noexcept = default;
  ShardReader& operator=(ShardReader&&) noexcept = default;

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }
  ImageShape shape() const { return shape_; }
  // Images per HDF5 chunk (the natural reading unit); the shard size when not chunked.
  int64_t chunk_images() const { return chunk_images_; }
  const std::string& split() const { return split_; }
  const std::vector<std::string>& class_names() const { return class_names_; }

  // Rows [first, first + count) into `images` (count * shape().bytes()) / `labels` (count).
  void read(int64_t first, int64_t count, uint8_t* images, int32_t* labels) const;
  std::vector<int32_t> read_all_labels() const;

 private:
  std::string path_;
  int64_t size_ = 0;
  ImageShape shape_;
  int64_t chunk_images_ = 0;
  std::string split_;
  std::vector<std::string> class_names_;
  h5::File file_;
  h5::Dataset images_, labels_;
};

}  // namespace stride::data
