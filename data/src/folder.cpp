// A folder of images, one sub-folder per class: the class names are the
// sub-folder names in sorted order, images are listed up front (sorted, so the
// import is reproducible) but decoded only when the shard writer asks, so a
// large folder never sits in memory decoded. stb_image decodes, stb_image_resize
// scales to the target size; libstb provides their implementations.
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <limits>
#include <memory>

#include "stride/common/error.h"
#include "stride/common/memory.h"
#include "stride/common/strings.h"
#include "stride/data/importers.h"

namespace stride::data {
namespace {

struct StbFree {
  void operator()(unsigned char* pixels) const noexcept { stbi_image_free(pixels); }
};
using StbPixels = std::unique_ptr<unsigned char, StbFree>;

bool is_image_file(const std::filesystem::path& path) {
  const std::string ext = to_lower(path.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool is_hidden(const std::filesystem::path& path) { return path.filename().string().starts_with("."); }

class FolderImages final : public ImageSource {
 public:
  FolderImages(std::vector<std::filesystem::path> files, std::vector<int32_t> labels, ImageShape shape)
      : files_(std::move(files)), labels_(std::move(labels)), shape_(shape) {}

  ImageShape shape() const override { return shape_; }
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int32_t label(int64_t index) const override { return labels_[static_cast<size_t>(index)]; }

  void read(int64_t index, uint8_t* out) const override {
    const std::filesystem::path& path = files_[static_cast<size_t>(index)];
    int width = 0, height = 0, stored_channels = 0;
    const int channels = static_cast<int>(shape_.channels);
    StbPixels pixels(stbi_load(path.c_str(), &width, &height, &stored_channels, channels));
    if (!pixels) fail<DataError>("{}: cannot decode image ({})", path.string(), stbi_failure_reason());
    if (width == shape_.width && height == shape_.height) {
      std::copy_n(pixels.get(), shape_.bytes(), out);
      return;
    }
    if (!stbir_resize_uint8(pixels.get(), width, height, 0, out, static_cast<int>(shape_.width),
                            static_cast<int>(shape_.height), 0, channels))
      fail<DataError>("{}: resizing {}x{} to {}x{} failed", path.string(), height, width, shape_.height, shape_.width);
  }

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<int32_t> labels_;
  ImageShape shape_;
};

std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir, bool directories) {
  std::vector<std::filesystem::path> entries;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (is_hidden(entry.path())) continue;
    if (directories ? entry.is_directory() : (entry.is_regular_file() && is_image_file(entry.path())))
      entries.push_back(entry.path());
  }
  if (error) fail<DataError>("{}: cannot list ({})", dir.string(), error.message());
  std::sort(entries.begin(), entries.end());
  return entries;
}

// stb_image and stb_image_resize size images in int: one image of 2 GiB or
// more would overflow inside them.
void check_decodable(const ImageShape& shape, const std::string& what) {
  const int64_t bytes = checked_product({shape.height, shape.width, shape.channels}, what);
  if (bytes > std::numeric_limits<int>::max())
    fail<ConfigError>("{}: images of {}x{}x{} ({} bytes) are past the image decoder's 2 GiB limit", what, shape.height,
                      shape.width, shape.channels, bytes);
}

}  // namespace

ImportedSource import_folder(const std::filesystem::path& dir, const FolderOptions& options) {
  if (!std::filesystem::is_directory(dir)) fail<DataError>("{}: not a directory", dir.string());
  if (options.channels != 1 && options.channels != 3)
    fail<ConfigError>("--channels {}: expected 1 or 3", options.channels);
  ImportedSource source;
  source.source = "folder";
  std::vector<std::filesystem::path> files;
  std::vector<int32_t> labels;
  for (const auto& class_dir : sorted_entries(dir, true)) {
    const auto images = sorted_entries(class_dir, false);
    if (images.empty()) fail<DataError>("{}: class folder holds no .png/.jpg/.jpeg images", class_dir.string());
    const auto label = static_cast<int32_t>(source.class_names.size());
    source.class_names.push_back(class_dir.filename().string());
    for (const auto& image : images) {
      files.push_back(image);
      labels.push_back(label);
    }
  }
  if (source.class_names.empty()) fail<DataError>("{}: no class sub-folders", dir.string());

  ImageShape shape{options.height, options.width, options.channels};
  if (shape.height > 0 && shape.width > 0) check_decodable(shape, "--size");
  if (shape.height <= 0 || shape.width <= 0) {
    int width = 0, height = 0, stored_channels = 0;
    if (!stbi_info(files.front().c_str(), &width, &height, &stored_channels))
      fail<DataError>("{}: cannot decode image ({})", files.front().string(), stbi_failure_reason());
    shape.height = height;
    shape.width = width;
  }
  check_decodable(shape, files.front().string());
  source.train = std::make_unique<FolderImages>(std::move(files), std::move(labels), shape);
  return source;
}

}  // namespace stride::data
