// A folder of images, one sub-folder per class: the class names are the
// sub-folder names in sorted order, images are listed up front (sorted, so the
// import is reproducible) but decoded only when the shard writer asks, so a
// large folder never sits in memory decoded. stb_image decodes, stb_image_resize
// scales to the target size; libstb provides their implementations.
// Files are read whole and checked for what that stb_image mishandles before
// it sees them (see check_jpeg_huffman_tables).
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <span>

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

// stb_image 2.27 (Debian's libstb) fills a JPEG Huffman table from the 16 code
// counts of a DHT segment without checking that they add up to at most 256,
// and writes past the table when they do. Such a file is refused first. The
// walk follows stb: marker segments by their length, fill bytes, stuffed
// bytes and entropy-coded data skipped byte by byte up to the next marker; a
// count stb would read past the end of the file is 0, as stb reads it.
void check_jpeg_huffman_tables(const std::filesystem::path& path, std::span<const uint8_t> b) {
  size_t i = 0;
  while (i < b.size() && b[i] == 0xFF) ++i;
  if (i == 0 || i >= b.size() || b[i] != 0xD8) return;  // not a JPEG (SOI)
  ++i;
  while (i + 1 < b.size()) {
    const uint8_t marker = b[i + 1];
    if (b[i] != 0xFF || marker == 0xFF || marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      ++i;  // data, fill, stuffed zero, TEM, RSTn, SOI: no segment
      continue;
    }
    if (marker == 0xD9) return;  // EOI
    const size_t length = i + 3 < b.size() ? (size_t{b[i + 2]} << 8) | b[i + 3] : 0;
    if (marker == 0xC4) {
      for (size_t table = i + 4; table < i + 2 + length && table < b.size();) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16 && table + k < b.size(); ++k) codes += b[table + k];
        if (codes > 256)
          fail<DataError>("{}: corrupt JPEG (a Huffman table at byte {} declares {} codes; at most 256 exist)",
                          path.string(), table, codes);
        table += 17 + codes;
      }
    }
    i += 2 + std::max<size_t>(length, 2);
  }
}

// stb_image picks its decoder by content, not by name: a file called .png
// may be decoded as PNM, TGA, PSD, PIC, GIF, BMP or HDR, readers far less
// exercised than PNG's and JPEG's (a PNM header without digits reaches
// stb_image_resize as a 0-pixel-wide image). Only files that begin as a PNG
// or a JPEG begins are handed to it: the PNG signature, or SOI after the
// 0xFF fill bytes stb's JPEG reader skips. Either rules out every other
// decoder's test, so stb can only run the two it is asked to.
bool starts_as_png_or_jpeg(std::span<const uint8_t> b) {
  constexpr uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= sizeof kPng && std::equal(std::begin(kPng), std::end(kPng), b.begin())) return true;
  size_t i = 0;
  while (i < b.size() && b[i] == 0xFF) ++i;
  return i > 0 && i < b.size() && b[i] == 0xD8;
}

// The file's bytes, refused when stb could not decode them safely.
std::vector<uint8_t> read_image_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<DataError>("{}: cannot open", path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail<DataError>("{}: read error", path.string());
  if (bytes.size() > static_cast<size_t>(INT_MAX)) fail<DataError>("{}: larger than 2 GiB", path.string());
  if (!starts_as_png_or_jpeg(bytes)) fail<DataError>("{}: not a PNG or JPEG file", path.string());
  check_jpeg_huffman_tables(path, bytes);
  return bytes;
}

class FolderImages final : public ImageSource {
 public:
  FolderImages(std::vector<std::filesystem::path> files, std::vector<int32_t> labels, ImageShape shape)
      : files_(std::move(files)), labels_(std::move(labels)), shape_(shape) {}

  ImageShape shape() const override { return shape_; }
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int32_t label(int64_t index) const override { return labels_[static_cast<size_t>(index)]; }

  void read(int64_t index, uint8_t* out) const override {
    decode_image(files_[static_cast<size_t>(index)], shape_, out);
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

// What stb reports for a decodable image must still hold pixels.
void check_has_pixels(const std::filesystem::path& path, int height, int width) {
  if (width <= 0 || height <= 0) fail<DataError>("{}: an image of {}x{} pixels", path.string(), height, width);
}

}  // namespace

std::pair<int64_t, int64_t> decode_image(const std::filesystem::path& path, const ImageShape& shape, uint8_t* out) {
  int width = 0, height = 0, stored_channels = 0;
  const int channels = static_cast<int>(shape.channels);
  const std::vector<uint8_t> bytes = read_image_file(path);
  StbPixels pixels(stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height,
                                         &stored_channels, channels));
  if (!pixels) fail<DataError>("{}: cannot decode image ({})", path.string(), stbi_failure_reason());
  check_has_pixels(path, height, width);
  if (width == shape.width && height == shape.height) {
    std::copy_n(pixels.get(), shape.bytes(), out);
  } else if (!stbir_resize_uint8(pixels.get(), width, height, 0, out, static_cast<int>(shape.width),
                                 static_cast<int>(shape.height), 0, channels)) {
    fail<DataError>("{}: resizing {}x{} to {}x{} failed", path.string(), height, width, shape.height, shape.width);
  }
  return {height, width};
}

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
    const std::vector<uint8_t> bytes = read_image_file(files.front());
    if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &stored_channels))
      fail<DataError>("{}: cannot decode image ({})", files.front().string(), stbi_failure_reason());
    check_has_pixels(files.front(), height, width);
    shape.height = height;
    shape.width = width;
  }
  check_decodable(shape, files.front().string());
  source.train = std::make_unique<FolderImages>(std::move(files), std::move(labels), shape);
  return source;
}

}  // namespace stride::data
