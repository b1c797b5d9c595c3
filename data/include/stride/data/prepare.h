// `stride prepare` as a library call: import a source, split train into
// train/val (and test, for sources without one) stratified by class, write the
// shards and manifest.json into a staging directory beside the output, and
// rename it into place only when everything is written. A failed import leaves
// no directory that looks complete and never touches an existing dataset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "stride/data/manifest.h"

namespace stride::data {

struct PrepareOptions {
  std::string source;  // fashion-mnist | mnist | cifar10 | cifar100 | folder
  std::filesystem::path from, out;
  int64_t shard_size = 10000;   // images per shard file
  double val_fraction = 0.1;    // of each class of the train set
  double test_fraction = 0.1;   // folder only: of each class
  std::string compression = "none";  // none | gzip (gzip uses the shuffle filter)
  int64_t chunk_size = 256;     // images per HDF5 chunk
  uint64_t seed = 0;            // the stratified split
  std::string label = "fine";   // cifar100: fine | coarse
  int64_t height = 0, width = 0;  // folder: target size (0: the first image's)
  int64_t channels = 3;           // folder: 1 | 3
  // Keep only these classes (names or 0-based indices), renumbered 0.. in the
  // order given: a 5-class dataset from a 10-class source, e.g. for fine-tuning.
  std::vector<std::string> classes;
};

struct PrepareResult {
  Manifest manifest;  // as written, dir = options.out
  double seconds = 0;
};

PrepareResult prepare_dataset(const PrepareOptions& options);

struct SplitIndices {
  std::vector<int64_t> train, val, test;  // each sorted ascending
};

// Per class, a seeded shuffle of that class's indices sends round(n * test_fraction)
// to test, round(n * val_fraction) to val and the rest to train.
SplitIndices stratified_split(std::span<const int32_t> labels, int64_t num_classes, double val_fraction,
                              double test_fraction, uint64_t seed);

}  // namespace stride::data
