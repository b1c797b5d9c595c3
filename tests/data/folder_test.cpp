// Folder import: PNGs written with stb_image_write, one sub-folder per class,
// come back with sorted class names, labels by folder, exact pixels at their
// own size, resized ones at the target size, and grey when asked.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <algorithm>
#include <fstream>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/data/importers.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::one_line_naming;

std::vector<uint8_t> rgb_image(int h, int w, int seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(h * w * 3));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((seed * 53 + i * 17) % 256);
  return pixels;
}

void write_png(const std::filesystem::path& path, int h, int w, const std::vector<uint8_t>& rgb) {
  std::filesystem::create_directories(path.parent_path());
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, 3, rgb.data(), w * 3), 0) << path;
}

TEST(Folder, ClassesAreSortedSubFoldersAndPixelsExact) {
  stride::testing::TempDir dir;
  write_png(dir / "zebra" / "b.png", 6, 5, rgb_image(6, 5, 1));
  write_png(dir / "zebra" / "a.png", 6, 5, rgb_image(6, 5, 2));
  write_png(dir / "ant" / "x.PNG", 6, 5, rgb_image(6, 5, 3));
  std::ofstream(dir / "ant" / "notes.txt") << "not an image";
  write_png(dir / ".hidden" / "h.png", 6, 5, rgb_image(6, 5, 4));

  const ImportedSource source = import_folder(dir.path(), FolderOptions{});
  EXPECT_EQ(source.class_names, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(source.test, nullptr);
  const ImageSource& images = *source.train;
  EXPECT_EQ(images.shape(), (ImageShape{6, 5, 3}));  // the first image's size
  ASSERT_EQ(images.size(), 3);
  EXPECT_EQ(images.label(0), 0);
  EXPECT_EQ(images.label(1), 1);
  EXPECT_EQ(images.label(2), 1);
  std::vector<uint8_t> out(6 * 5 * 3);
  images.read(1, out.data());  // zebra/a.png: files sorted by name
  EXPECT_EQ(out, rgb_image(6, 5, 2));
  images.read(0, out.data());
  EXPECT_EQ(out, rgb_image(6, 5, 3));
}

TEST(Folder, ResizesToTheTargetAndConvertsToGrey) {
  stride::testing::TempDir dir;
  std::vector<uint8_t> flat(8 * 8 * 3);
  for (size_t p = 0; p < 64; ++p) flat[3 * p] = 200, flat[3 * p + 1] = 100, flat[3 * p + 2] = 50;
  write_png(dir / "one" / "big.png", 8, 8, flat);
  write_png(dir / "two" / "small.png", 2, 2, std::vector<uint8_t>(flat.begin(), flat.begin() + 12));

  const ImportedSource rgb = import_folder(dir.path(), FolderOptions{4, 4, 3});
  EXPECT_EQ(rgb.train->shape(), (ImageShape{4, 4, 3}));
  std::vector<uint8_t> out(4 * 4 * 3);
  for (int64_t i = 0; i < 2; ++i) {
    rgb.train->read(i, out.data());
    for (size_t p = 0; p < 16; ++p) {  // a flat colour stays flat through resizing
      EXPECT_NEAR(out[3 * p], 200, 1) << "image " << i;
      EXPECT_NEAR(out[3 * p + 2], 50, 1) << "image " << i;
    }
  }
  const ImportedSource grey = import_folder(dir.path(), FolderOptions{3, 3, 1});
  std::vector<uint8_t> g(9);
  grey.train->read(0, g.data());
  // stb's luma: (77 R + 150 G + 29 B) >> 8.
  EXPECT_NEAR(g[4], (77 * 200 + 150 * 100 + 29 * 50) >> 8, 1);
}

TEST(Folder, BadFoldersAndImagesAreNamed) {
  stride::testing::TempDir dir;
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, import_folder(dir.path(), FolderOptions{}), message);
  EXPECT_TRUE(one_line_naming(message, dir.path()));

  std::filesystem::create_directories(dir / "empty");
  STRIDE_ERROR_MESSAGE(DataError, import_folder(dir.path(), FolderOptions{}), message);
  EXPECT_TRUE(one_line_naming(message, dir / "empty"));

  std::filesystem::remove(dir / "empty");
  write_png(dir / "cls" / "a.png", 4, 4, rgb_image(4, 4, 0));
  std::ofstream(dir / "cls" / "b.png") << "not a png";
  const ImportedSource source = import_folder(dir.path(), FolderOptions{});
  std::vector<uint8_t> out(48);
  STRIDE_ERROR_MESSAGE(DataError, source.train->read(1, out.data()), message);
  EXPECT_TRUE(one_line_naming(message, dir / "cls" / "b.png"));
}

// A JPEG of the given size as stb_image_write encodes it.
std::vector<uint8_t> jpeg_bytes(int h, int w, const std::vector<uint8_t>& rgb) {
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func(
      [](void* context, void* data, int size) {
        auto* bytes = static_cast<std::vector<uint8_t>*>(context);
        bytes->insert(bytes->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
      },
      &out, w, h, 3, rgb.data(), 90);
  return out;
}

TEST(Folder, JpegsDecodeAtTheirSize) {
  stride::testing::TempDir dir;
  std::filesystem::create_directories(dir / "cls");
  stride::testing::write_bytes(dir / "cls" / "a.jpg", jpeg_bytes(7, 9, rgb_image(7, 9, 5)));
  const ImportedSource source = import_folder(dir.path(), FolderOptions{});
  EXPECT_EQ(source.train->shape(), (ImageShape{7, 9, 3}));
  std::vector<uint8_t> out(7 * 9 * 3);
  source.train->read(0, out.data());
}

// The DataError of importing `dir` and reading its first image, at the first
// image's own size (side 0) or resized to side x side; empty if none.
std::string import_error(const std::filesystem::path& dir, int64_t side) {
  FolderOptions options;
  options.height = options.width = side;
  try {
    const ImportedSource source = import_folder(dir, options);
    std::vector<uint8_t> out(static_cast<size_t>(source.train->shape().bytes()));
    source.train->read(0, out.data());
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// Huffman code counts adding up to more than 256 made stb_image write past its
// table (found by fuzz_folder): the file is refused before stb decodes it.
TEST(Folder, JpegHuffmanTableWithTooManyCodesIsRefused) {
  stride::testing::TempDir dir;
  std::filesystem::create_directories(dir / "cls");
  std::vector<uint8_t> jpeg = jpeg_bytes(8, 8, rgb_image(8, 8, 6));
  const uint8_t dht_marker[] = {0xFF, 0xC4};
  const auto dht = std::search(jpeg.begin(), jpeg.end(), std::begin(dht_marker), std::end(dht_marker));
  ASSERT_NE(dht, jpeg.end()) << "stb_image_write wrote no DHT segment";
  dht[5 + 15] = 0xFF;  // the first table's count of 16-bit codes: 255 more codes than exist
  const auto path = dir / "cls" / "bad.jpg";
  stride::testing::write_bytes(path, jpeg);
  for (const int64_t side : {0, 8}) {
    const std::string message = import_error(dir.path(), side);
    EXPECT_TRUE(one_line_naming(message, path));
    EXPECT_NE(message.find("Huffman table"), std::string::npos) << message;
  }
}

// stb_image decodes by content: a PGM, GIF or BMP named .png/.jpg would reach
// one of its lesser readers (found by fuzz_folder: a PGM header without digits
// came out 0 pixels wide and broke stb_image_resize). Only PNG and JPEG
// content is decoded, whatever the name says.
TEST(Folder, OnlyPngAndJpegContentIsDecoded) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a.png", "P5 2 2 255\n\x01\x02\x03\x04"}, {"b.png", "P5c"}, {"c.jpg", "GIF89a\x02\x00\x02\x00"},
      {"d.jpeg", "BM\x00\x00"},                   {"e.png", ""}};
  for (const auto& [name, bytes] : files) {
    stride::testing::TempDir dir;
    std::filesystem::create_directories(dir / "cls");
    const auto path = dir / "cls" / name;
    stride::testing::write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    for (const int64_t side : {0, 2}) {
      const std::string message = import_error(dir.path(), side);
      EXPECT_TRUE(one_line_naming(message, path)) << name;
      EXPECT_NE(message.find("not a PNG or JPEG file"), std::string::npos) << name << ": " << message;
    }
  }
}

}  // namespace
}  // namespace stride::data
