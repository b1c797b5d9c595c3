// A small learnable dataset written as real shards + manifest.json: class k
// draws a bright bar at a class-specific row on noise, so a model can reach
// high accuracy in a few epochs. For tests of the trainer and the commands.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "stride/data/manifest.h"
#include "stride/data/shard.h"

namespace stride::testing {

struct SyntheticSpec {
  int64_t train = 512, val = 128, test = 128;
  int64_t height = 12, width = 12, channels = 1;
  int64_t classes = 4;
  uint32_t seed = 1;
};

inline data::Manifest write_synthetic_dataset(const std::filesystem::path& dir, const SyntheticSpec& spec = {}) {
  std::filesystem::create_directories(dir);
  data::Manifest manifest;
  manifest.dir = dir;
  manifest.source = "synthetic";
  manifest.shape = {spec.height, spec.width, spec.channels};
  for (int64_t k = 0; k < spec.classes; ++k) manifest.class_names.push_back("class" + std::to_string(k));
  std::mt19937 rng(spec.seed);
  std::uniform_int_distribution<int> noise(0, 60);
  double sum = 0, sum_sq = 0;
  int64_t pixels = 0;
  for (const auto& [split, count] : {std::pair<std::string, int64_t>{"train", spec.train}, {"val", spec.val},
                                     {"test", spec.test}}) {
    std::vector<uint8_t> images(static_cast<size_t>(count * manifest.shape.bytes()));
    std::vector<int32_t> labels(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const int32_t label = static_cast<int32_t>(i % spec.classes);
      labels[static_cast<size_t>(i)] = label;
      uint8_t* image = images.data() + i * manifest.shape.bytes();
      const int64_t row = (label * spec.height) / spec.classes;
      for (int64_t p = 0; p < manifest.shape.bytes(); ++p) {
        const int64_t y = p / (spec.width * spec.channels);
        image[p] = static_cast<uint8_t>(noise(rng) + (y == row ? 180 : 0));
        if (split == "train") {
          sum += image[p] / 255.0;
          sum_sq += (image[p] / 255.0) * (image[p] / 255.0);
          ++pixels;
        }
      }
    }
    const std::string file = split + "-00000.h5";
    data::ShardWriter writer((dir / file).string(), count, manifest.shape,
                             {split, manifest.source, manifest.class_names}, {});
    writer.append(images.data(), labels.data(), count);
    writer.close();
    manifest.splits[split] = {{{file, count, data::crc32_file(dir / file)}}, count};
  }
  const double mean = sum / static_cast<double>(pixels);
  const double var = sum_sq / static_cast<double>(pixels) - mean * mean;
  manifest.mean.assign(static_cast<size_t>(spec.channels), mean);
  manifest.std.assign(static_cast<size_t>(spec.channels), std::sqrt(var));
  data::save_manifest(manifest, dir);
  return manifest;
}

}  // namespace stride::testing
