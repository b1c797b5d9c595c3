// CIFAR-10 / CIFAR-100 binary batches. A record is its label byte(s) then the
// 32x32 image as three planes (all R, then G, then B, each row-major); shards
// hold HWC, so every record is transposed from CHW on the way in.
#include <algorithm>
#include <fstream>

#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/data/importers.h"

namespace stride::data {
namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kPlane = kSide * kSide;
constexpr int64_t kImageBytes = 3 * kPlane;

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) fail<DataError>("{}: no such file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<DataError>("{}: cannot open", path.string());
  std::vector<uint8_t> bytes(static_cast<size_t>(std::filesystem::file_size(path)));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size()))
    fail<DataError>("{}: read {} of {} bytes", path.string(), in.gcount(), bytes.size());
  return bytes;
}

// The non-empty lines of a names file, which must number `count`; the
// fallback names when the file is absent.
std::vector<std::string> read_names(const std::filesystem::path& path, size_t count,
                                    const std::vector<std::string>& fallback) {
  if (!std::filesystem::exists(path)) return fallback;
  std::ifstream in(path);
  if (!in) fail<DataError>("{}: cannot open", path.string());
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    std::string name = trim(line);
    if (!name.empty()) names.push_back(std::move(name));
  }
  if (names.size() != count)
    fail<DataError>("{}: {} class names, expected {}", path.string(), names.size(), count);
  return names;
}

std::vector<std::string> numbered_names(size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back("class_" + std::to_string(i));
  return names;
}

// `dir` itself when it holds `marker`, else the conventional sub-folder when that does.
std::filesystem::path locate(const std::filesystem::path& dir, const std::string& marker, const std::string& sub) {
  if (std::filesystem::exists(dir / marker)) return dir;
  if (std::filesystem::exists(dir / sub / marker)) return dir / sub;
  if (!std::filesystem::is_directory(dir)) fail<DataError>("{}: not a directory", dir.string());
  fail<DataError>("{}: no {} here nor in {}/", dir.string(), marker, sub);
}

}  // namespace

ImageSet read_cifar(const std::vector<std::filesystem::path>& files, int label_bytes, int label_index,
                    int64_t num_classes) {
  const int64_t record = label_bytes + kImageBytes;
  ImageSet set;
  set.image_shape = {kSide, kSide, 3};
  for (const auto& path : files) {
    const std::vector<uint8_t> bytes = read_file(path);
    const auto size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % record != 0)
      fail<DataError>("{}: {} bytes is not a whole number of {}-byte records", path.string(), size, record);
    const int64_t count = size / record;
    const size_t first = set.labels.size();
    set.labels.resize(first + static_cast<size_t>(count));
    set.pixels.resize((first + static_cast<size_t>(count)) * kImageBytes);
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* in = bytes.data() + r * record;
      const int label = in[label_index];
      if (label >= num_classes)
        fail<DataError>("{}: label {} of record {} is out of range [0, {})", path.string(), label, r, num_classes);
      set.labels[first + r] = label;
      const uint8_t* planes = in + label_bytes;
      uint8_t* out = set.pixels.data() + (first + r) * kImageBytes;
      for (int64_t p = 0; p < kPlane; ++p) {
        out[3 * p + 0] = planes[p];
        out[3 * p + 1] = planes[kPlane + p];
        out[3 * p + 2] = planes[2 * kPlane + p];
      }
    }
  }
  return set;
}

ImportedSource import_cifar10(const std::filesystem::path& from) {
  const auto dir = locate(from, "data_batch_1.bin", "cifar-10-batches-bin");
  ImportedSource source;
  source.source = "cifar10";
  source.class_names = read_names(dir / "batches.meta.txt", 10, cifar10_class_names());
  std::vector<std::filesystem::path> train_files;
  for (int i = 1; i <= 5; ++i) train_files.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
  source.train = std::make_unique<ImageSet>(read_cifar(train_files, 1, 0, 10));
  source.test = std::make_unique<ImageSet>(read_cifar({dir / "test_batch.bin"}, 1, 0, 10));
  return source;
}

ImportedSource import_cifar100(const std::filesystem::path& from, bool coarse) {
  const auto dir = locate(from, "train.bin", "cifar-100-binary");
  const int64_t classes = coarse ? 20 : 100;
  ImportedSource source;
  source.source = coarse ? "cifar100-coarse" : "cifar100";
  source.class_names = read_names(dir / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"),
                                  static_cast<size_t>(classes), numbered_names(static_cast<size_t>(classes)));
  const int label_index = coarse ? 0 : 1;
  source.train = std::make_unique<ImageSet>(read_cifar({dir / "train.bin"}, 2, label_index, classes));
  source.test = std::make_unique<ImageSet>(read_cifar({dir / "test.bin"}, 2, label_index, classes));
  return source;
}

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

}  // namespace stride::data
