// Readers for the source formats `stride prepare` imports: IDX (MNIST,
// Fashion-MNIST; gzipped or not), CIFAR-10/100 binary batches, and a folder of
// PNG/JPEG images with one sub-folder per class. Each yields an ImageSource:
// random access to uint8 HWC images and int32 labels, so the shard writer never
// cares where pixels came from. Bad input is a one-line DataError that names
// the file and what is wrong with it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stride/data/manifest.h"

namespace stride::data {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual ImageShape shape() const = 0;
  virtual int64_t size() const = 0;
  virtual int32_t label(int64_t index) const = 0;
  // Writes image `index` into out (shape().bytes() bytes, HWC).
  virtual void read(int64_t index, uint8_t* out) const = 0;
};

// Images held in memory: IDX and CIFAR files are small enough to read whole.
class ImageSet final : public ImageSource {
 public:
  ImageShape image_shape;
  std::vector<uint8_t> pixels;  // size() * image_shape.bytes(), HWC per image
  std::vector<int32_t> labels;

  ImageShape shape() const override { return image_shape; }
  int64_t size() const override { return static_cast<int64_t>(labels.size()); }
  int32_t label(int64_t index) const override { return labels[static_cast<size_t>(index)]; }
  void read(int64_t index, uint8_t* out) const override;
};

// A source's class names and its train / test sets (test is null when the
// source has none: the preparer then splits one off the train set).
struct ImportedSource {
  std::string source;
  std::vector<std::string> class_names;
  std::unique_ptr<ImageSource> train, test;
};

// One IDX image file (magic 0x803, [N, rows, cols]) and its label file (magic
// 0x801, [N]); either may be gzipped. Labels must lie in [0, num_classes).
ImageSet read_idx(const std::filesystem::path& images, const std::filesystem::path& labels, int64_t num_classes);

// The four IDX files of MNIST / Fashion-MNIST in `dir` (with or without .gz).
ImportedSource import_mnist(const std::filesystem::path& dir, bool fashion);

// CIFAR binary records: `label_bytes` label bytes (the one at `label_index` is
// used) then 3072 bytes of 32x32 R, G, B planes, converted to HWC.
ImageSet read_cifar(const std::vector<std::filesystem::path>& files, int label_bytes, int label_index,
                    int64_t num_classes);

// data_batch_1..5.bin + test_batch.bin (+ batches.meta.txt) in `dir` or
// `dir`/cifar-10-batches-bin.
ImportedSource import_cifar10(const std::filesystem::path& dir);
// train.bin + test.bin (+ fine/coarse_label_names.txt) in `dir` or `dir`/cifar-100-binary.
ImportedSource import_cifar100(const std::filesystem::path& dir, bool coarse);

struct FolderOptions {
  int64_t height = 0, width = 0;  // 0: the size of the first image found
  int64_t channels = 3;           // 1 (grey) or 3 (RGB)
};
// One sub-folder per class (sorted by name) of .png/.jpg/.jpeg files; images
// are decoded lazily and resized to the target size. No test set.
ImportedSource import_folder(const std::filesystem::path& dir, const FolderOptions& options);

// Decodes one PNG/JPEG file into `out` (shape.bytes() bytes, HWC, grey or RGB
// as shape.channels says), resampled with stb_image_resize only when the
// file's size differs from the shape's; returns the file's own {height, width}.
// A file stb_image could not decode safely is refused like an undecodable one.
// The folder importer and `stride predict` both decode through it.
std::pair<int64_t, int64_t> decode_image(const std::filesystem::path& path, const ImageShape& shape, uint8_t* out);

// The standard class names.
const std::vector<std::string>& fashion_mnist_class_names();
const std::vector<std::string>& cifar10_class_names();

}  // namespace stride::data
