// IDX import: files written byte for byte by the test (plain and gzipped) come
// back with the right pixels and labels; every malformed file is a one-line
// DataError that names it.
#include <gtest/gtest.h>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/data/importers.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::idx_images;
using stride::testing::idx_labels;
using stride::testing::one_line_naming;
using stride::testing::source_pixel;
using stride::testing::write_bytes;
using stride::testing::write_gzip;

struct IdxFiles {
  std::vector<uint8_t> pixels, labels;
};

IdxFiles make_idx(uint32_t count, uint32_t rows, uint32_t cols, int classes) {
  IdxFiles f;
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t k = 0; k < rows * cols; ++k) f.pixels.push_back(source_pixel(i, k));
    f.labels.push_back(static_cast<uint8_t>((i * 3) % static_cast<uint32_t>(classes)));
  }
  return f;
}

class IdxTest : public ::testing::TestWithParam<bool> {};  // parameter: gzipped

TEST_P(IdxTest, ReadsPixelsAndLabels) {
  const bool gz = GetParam();
  stride::testing::TempDir dir;
  const IdxFiles f = make_idx(7, 5, 3, 10);
  const auto images = dir / (gz ? "images.gz" : "images"), labels = dir / (gz ? "labels.gz" : "labels");
  auto write = gz ? write_gzip : write_bytes;
  write(images, idx_images(7, 5, 3, f.pixels));
  write(labels, idx_labels(7, f.labels));

  const ImageSet set = read_idx(images, labels, 10);
  EXPECT_EQ(set.shape(), (ImageShape{5, 3, 1}));  // rows are the height
  ASSERT_EQ(set.size(), 7);
  EXPECT_EQ(set.pixels, f.pixels);
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(set.label(i), (i * 3) % 10) << "image " << i;
  std::vector<uint8_t> one(15);
  set.read(4, one.data());
  EXPECT_EQ(one[14], source_pixel(4, 14));
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxTest, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "gzip" : "plain"; });

TEST(Idx, ImportsTheFourMnistFilesWithEitherNaming) {
  stride::testing::TempDir dir;
  const IdxFiles train = make_idx(20, 4, 4, 10), test = make_idx(6, 4, 4, 10);
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_images(20, 4, 4, train.pixels));
  write_gzip(dir / "train-labels-idx1-ubyte.gz", idx_labels(20, train.labels));
  write_bytes(dir / "t10k-images.idx3-ubyte", idx_images(6, 4, 4, test.pixels));  // the dotted mirror naming
  write_bytes(dir / "t10k-labels.idx1-ubyte", idx_labels(6, test.labels));

  const ImportedSource source = import_mnist(dir.path(), true);
  EXPECT_EQ(source.source, "fashion-mnist");
  EXPECT_EQ(source.class_names, fashion_mnist_class_names());
  ASSERT_TRUE(source.train && source.test);
  EXPECT_EQ(source.train->size(), 20);
  EXPECT_EQ(source.test->size(), 6);
  EXPECT_EQ(source.test->label(5), 5);
  EXPECT_EQ(import_mnist(dir.path(), false).class_names.front(), "0");
}

TEST(Idx, MissingFileIsNamed) {
  stride::testing::TempDir dir;
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, import_mnist(dir.path(), true), message);
  EXPECT_TRUE(one_line_naming(message, dir.path()));
  EXPECT_NE(message.find("train-images-idx3-ubyte"), std::string::npos) << message;  // the first file looked for
}

// Each malformed input: which file to corrupt and how, and a word the message must hold.
struct Malformed {
  const char* name;
  bool corrupt_labels;  // else the image file
  const char* expect;
  std::vector<uint8_t> (*make)(const IdxFiles&);
  bool gzip = false;
};

std::vector<uint8_t> good_images(const IdxFiles& f) { return idx_images(4, 2, 2, f.pixels); }
std::vector<uint8_t> good_labels(const IdxFiles& f) { return idx_labels(4, f.labels); }

const Malformed kMalformed[] = {
    {"truncated_pixels", false, "ends after",
     [](const IdxFiles& f) {
       auto b = good_images(f);
       b.resize(b.size() - 3);
       return b;
     }},
    {"truncated_header", false, "truncated header",
     [](const IdxFiles& f) {
       auto b = good_images(f);
       b.resize(10);
       return b;
     }},
    {"wrong_image_magic", false, "magic", [](const IdxFiles& f) { return idx_images(4, 2, 2, f.pixels, 0x801); }},
    {"wrong_label_magic", true, "magic", [](const IdxFiles& f) { return idx_labels(4, f.labels, 0x803); }},
    {"label_out_of_range", true, "out of range",
     [](const IdxFiles& f) {
       auto labels = f.labels;
       labels[2] = 10;
       return idx_labels(4, labels);
     }},
    {"label_count_differs", true, "labels",
     [](const IdxFiles& f) {
       return idx_labels(3, {f.labels[0], f.labels[1], f.labels[2]});
     }},
    {"trailing_bytes", false, "past",
     [](const IdxFiles& f) {
       auto b = good_images(f);
       b.push_back(0);
       return b;
     }},
    {"truncated_labels_gzip", true, "ends after",
     [](const IdxFiles& f) {
       auto b = good_labels(f);
       b.pop_back();
       return b;
     },
     true},
};

class IdxMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(IdxMalformed, IsOneLineErrorNamingTheFile) {
  const Malformed& m = GetParam();
  stride::testing::TempDir dir;
  const IdxFiles f = make_idx(4, 2, 2, 10);
  const auto images = dir / "images", labels = dir / "labels";
  auto write = m.gzip ? write_gzip : write_bytes;
  write(images, m.corrupt_labels ? good_images(f) : m.make(f));
  write(labels, m.corrupt_labels ? m.make(f) : good_labels(f));

  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_idx(images, labels, 10), message);
  EXPECT_TRUE(one_line_naming(message, m.corrupt_labels ? labels : images));
  EXPECT_NE(message.find(m.expect), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Cases, IdxMalformed, ::testing::ValuesIn(kMalformed),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Idx, HeaderClaimingMoreImagesThanPresent) {
  stride::testing::TempDir dir;
  const IdxFiles f = make_idx(4, 2, 2, 10);
  const auto images = dir / "images", labels = dir / "labels";
  write_bytes(images, idx_images(1000000, 2, 2, f.pixels));
  write_bytes(labels, idx_labels(1000000, f.labels));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_idx(images, labels, 10), message);
  EXPECT_TRUE(one_line_naming(message, images));
  EXPECT_NE(message.find("declares 1000000 images but the data ends after 4"), std::string::npos) << message;
}

// 2^32 - 1 images of 65536 x 65536 pixels: the byte count overflowed int64
// (UBSan, found by fuzz_idx), so the reader saw a negative total.
TEST(Idx, HeaderWhoseByteCountOverflowsIsRefused) {
  stride::testing::TempDir dir;
  const auto images = dir / "images", labels = dir / "labels";
  write_bytes(images, idx_images(0xFFFFFFFFu, 65536, 65536, std::vector<uint8_t>(16, 7)));
  write_bytes(labels, idx_labels(0xFFFFFFFFu, {1, 2, 3}));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_idx(images, labels, 10), message);
  EXPECT_TRUE(one_line_naming(message, images));
  EXPECT_NE(message.find("declares 4294967295 images of 4294967296 bytes"), std::string::npos) << message;
}

TEST(Idx, CorruptGzipIsReportedAsSuch) {
  stride::testing::TempDir dir;
  const IdxFiles f = make_idx(200, 8, 8, 10);
  const auto images = dir / "images.gz", labels = dir / "labels.gz";
  write_gzip(images, idx_images(200, 8, 8, f.pixels));
  write_gzip(labels, idx_labels(200, f.labels));
  auto bytes = stride::testing::read_bytes(images);
  ASSERT_GT(bytes.size(), 64u);
  for (size_t i = 20; i < bytes.size() - 10; i += 7) bytes[i] ^= 0x5a;  // the deflate stream, not the gzip header
  write_bytes(images, bytes);

  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_idx(images, labels, 10), message);
  EXPECT_TRUE(one_line_naming(message, images));
  EXPECT_NE(message.find("gzip"), std::string::npos) << message;
}

TEST(Idx, CutGzipStreamIsTruncation) {
  stride::testing::TempDir dir;
  const IdxFiles f = make_idx(200, 8, 8, 10);
  const auto images = dir / "images.gz", labels = dir / "labels.gz";
  write_gzip(images, idx_images(200, 8, 8, f.pixels));
  write_gzip(labels, idx_labels(200, f.labels));
  auto bytes = stride::testing::read_bytes(images);
  bytes.resize(bytes.size() / 2);
  write_bytes(images, bytes);

  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_idx(images, labels, 10), message);
  EXPECT_TRUE(one_line_naming(message, images));
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

}  // namespace
}  // namespace stride::data
