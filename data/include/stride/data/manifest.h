// manifest.json: the index of a prepared dataset directory. It names every
// shard of every split (train / val / test) with its image count and the CRC32
// of its bytes, the image shape, the class names and the train split's
// per-channel mean/std (pixels scaled to [0, 1]). Readers trust nothing in a
// shard that the manifest does not agree with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace stride::data {

inline constexpr const char* kManifestFormat = "stride-dataset";
inline constexpr int kManifestVersion = 1;
inline constexpr const char* kManifestFile = "manifest.json";

// Height x width x channels of every image of a dataset; pixels are uint8, HWC.
struct ImageShape {
  int64_t height = 0, width = 0, channels = 0;
  int64_t bytes() const { return height * width * channels; }
  bool operator==(const ImageShape&) const = default;
};

struct ShardEntry {
  std::string file;      // relative to the dataset directory
  int64_t count = 0;     // images in the shard
  std::string checksum;  // CRC32 of the file bytes, 8 lowercase hex digits
};

struct SplitEntry {
  std::vector<ShardEntry> shards;
  int64_t count = 0;  // sum of the shard counts
};

struct Manifest {
  std::filesystem::path dir;  // the directory it was loaded from (not stored in the file)
  std::string source;         // "fashion-mnist", "cifar10", "folder", ...
  ImageShape shape;
  std::vector<std::string> class_names;
  std::map<std::string, SplitEntry> splits;  // "train", "val", "test"; a split may be absent
  std::vector<double> mean, std;              // per channel, train split, pixels / 255

  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  bool has_split(const std::string& name) const { return splits.count(name) > 0; }
  // The split or a DataError naming the manifest and the splits it has.
  const SplitEntry& split(const std::string& name) const;
  std::filesystem::path path() const { return dir / kManifestFile; }
  std::filesystem::path shard_path(const ShardEntry& shard) const { return dir / shard.file; }
};

// Reads and validates DIR/manifest.json: every key present with the right type,
// a positive shape, channels 1 or 3, counts that add up, one mean/std per channel.
// Errors are DataError naming the manifest file and the key at fault.
Manifest load_manifest(const std::filesystem::path& dir);

// Writes manifest.json into dir (dir need not be manifest.dir).
void save_manifest(const Manifest& manifest, const std::filesystem::path& dir);

// Recomputes the CRC32 of each shard of `split` (of every split when empty) and
// throws DataError naming the first shard whose bytes do not match.
void verify_checksums(const Manifest& manifest, const std::string& split = "");

// CRC32 (zlib) of a file's bytes as 8 lowercase hex digits.
std::string crc32_file(const std::filesystem::path& path);

}  // namespace stride::data
