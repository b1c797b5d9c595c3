// Builders for the data tests: source files in their exact on-disk formats
// (IDX, CIFAR binary), and prepared datasets written straight through the
// shard writer whose every image encodes its own split index, so a test can
// tell from the pixels alone which image the loader delivered.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "stride/data/manifest.h"
#include "stride/data/shard.h"

namespace stride::testing {

// The message of the exception `statement` throws as E, or a test failure.
#define STRIDE_ERROR_MESSAGE(E, statement, message_out) \
  do {                                                  \
    try {                                               \
      statement;                                        \
      ADD_FAILURE() << #statement " did not throw " #E; \
    } catch (const E& error_caught) {                   \
      message_out = error_caught.what();                \
    }                                                   \
  } while (0)

// A message fit for one line of a terminal that names `path`.
inline ::testing::AssertionResult one_line_naming(const std::string& message, const std::filesystem::path& path) {
  if (message.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line: " << message;
  if (message.find(path.string()) == std::string::npos)
    return ::testing::AssertionFailure() << "'" << message << "' does not name " << path.string();
  return ::testing::AssertionSuccess();
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_gzip(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error("cannot write " + path.string());
  if (!bytes.empty()) gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

inline void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

// IDX bytes: magic 0x803 + [count, rows, cols] + pixels, or magic 0x801 + [count] + labels.
inline std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& pixels,
                                       uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}
inline std::vector<uint8_t> idx_labels(uint32_t count, const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, count);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

// Pixel k of image i of a synthetic source: distinct per image and position.
inline uint8_t source_pixel(int64_t image, int64_t k) {
  return static_cast<uint8_t>((image * 37 + k * 11 + image * k) % 251);
}

// A dataset whose image i of a split has bytes 0..2 = i in base 256 and the
// rest a pattern of (i, k); label i % classes. `split_sizes` holds one count
// per split name; every split is cut into shards of `shard_size`.
struct SyntheticDataset {
  std::filesystem::path dir;
  data::ImageShape shape{4, 4, 1};
  int64_t classes = 10;
  int64_t shard_size = 100;
  int64_t chunk = 16;
  bool gzip = false;
  std::vector<std::pair<std::string, int64_t>> split_sizes = {{"train", 250}};

  static uint8_t pixel(int64_t index, int64_t k) {
    if (k < 3) return static_cast<uint8_t>(index >> (8 * k));
    return static_cast<uint8_t>((index * 13 + k * 7) % 256);
  }
  int32_t label(int64_t index) const { return static_cast<int32_t>(index % classes); }

  data::Manifest write() const {
    std::filesystem::create_directories(dir);
    data::Manifest manifest;
    manifest.dir = dir;
    manifest.source = "synthetic";
    manifest.shape = shape;
    for (int64_t c = 0; c < classes; ++c) manifest.class_names.push_back("class" + std::to_string(c));
    manifest.mean.assign(static_cast<size_t>(shape.channels), 0.25);
    manifest.std.assign(static_cast<size_t>(shape.channels), 0.5);
    const int64_t bytes = shape.bytes();
    for (const auto& [split, size] : split_sizes) {
      data::SplitEntry entry;
      for (int64_t first = 0, number = 0; first < size; first += shard_size, ++number) {
        const int64_t count = std::min(shard_size, size - first);
        const std::string file = split + "-" + std::to_string(number) + ".h5";
        data::ShardWriter writer((dir / file).string(), count, shape,
                                 data::ShardMeta{split, manifest.source, manifest.class_names},
                                 data::ShardWriteOptions{chunk, gzip});
        std::vector<uint8_t> images(static_cast<size_t>(count * bytes));
        std::vector<int32_t> labels(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) {
          for (int64_t k = 0; k < bytes; ++k) images[static_cast<size_t>(i * bytes + k)] = pixel(first + i, k);
          labels[static_cast<size_t>(i)] = label(first + i);
        }
        writer.append(images.data(), labels.data(), count);
        writer.close();
        entry.shards.push_back({file, count, data::crc32_file(dir / file)});
        entry.count += count;
      }
      manifest.splits[split] = entry;
    }
    data::save_manifest(manifest, dir);
    return manifest;
  }

  // The split index a delivered image (pixels / 255, no normalisation) encodes.
  static int64_t decode(const float* image) {
    int64_t index = 0;
    for (int k = 2; k >= 0; --k) index = index * 256 + static_cast<int64_t>(std::lround(image[k] * 255.0f));
    return index;
  }
};

}  // namespace stride::testing
