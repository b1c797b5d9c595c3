// CIFAR-10 / CIFAR-100 import: binary batches written by the test record by
// record (label byte(s), then the R, G and B planes) come back as HWC images
// with the right labels; malformed files are one-line DataErrors naming them.
#include <gtest/gtest.h>

#include <fstream>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/data/importers.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::one_line_naming;
using stride::testing::write_bytes;

constexpr int kPlane = 32 * 32;

// Channel c of pixel (y, x) of record r of a file numbered `file`.
uint8_t cifar_value(int file, int r, int c, int y, int x) {
  return static_cast<uint8_t>((file * 71 + r * 29 + c * 101 + y * 7 + x * 3) % 256);
}

// CIFAR records in their CHW layout after `labels` (one or two bytes each).
std::vector<uint8_t> cifar_file(int file, const std::vector<std::vector<uint8_t>>& labels) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(cifar_value(file, static_cast<int>(r), c, y, x));
  }
  return out;
}

void expect_hwc(const ImageSource& set, int64_t index, int file, int r) {
  std::vector<uint8_t> image(3 * kPlane);
  set.read(index, image.data());
  for (int y = 0; y < 32; y += 5)
    for (int x = 0; x < 32; x += 3)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(image[static_cast<size_t>((y * 32 + x) * 3 + c)], cifar_value(file, r, c, y, x))
            << "image " << index << " at (" << y << ", " << x << ", " << c << ")";
}

TEST(Cifar10, ImportsBatchesAsHwcWithLabels) {
  stride::testing::TempDir dir;
  const auto root = dir / "cifar-10-batches-bin";
  std::filesystem::create_directories(root);
  for (int b = 1; b <= 5; ++b)
    write_bytes(root / ("data_batch_" + std::to_string(b) + ".bin"),
                cifar_file(b, {{static_cast<uint8_t>(b)}, {static_cast<uint8_t>(9 - b)}}));
  write_bytes(root / "test_batch.bin", cifar_file(0, {{3}, {0}, {9}}));

  const ImportedSource source = import_cifar10(dir.path());  // finds the conventional sub-folder
  EXPECT_EQ(source.source, "cifar10");
  EXPECT_EQ(source.class_names, cifar10_class_names());
  ASSERT_EQ(source.train->size(), 10);
  ASSERT_EQ(source.test->size(), 3);
  EXPECT_EQ(source.train->shape(), (ImageShape{32, 32, 3}));
  for (int b = 1; b <= 5; ++b) {
    EXPECT_EQ(source.train->label(2 * (b - 1)), b);
    EXPECT_EQ(source.train->label(2 * (b - 1) + 1), 9 - b);
    expect_hwc(*source.train, 2 * (b - 1) + 1, b, 1);
  }
  EXPECT_EQ(source.test->label(2), 9);
  expect_hwc(*source.test, 2, 0, 2);
}

TEST(Cifar10, ClassNamesComeFromTheMetaFile) {
  stride::testing::TempDir dir;
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_file(b, {{0}}));
  write_bytes(dir / "test_batch.bin", cifar_file(0, {{1}}));
  std::ofstream(dir / "batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
  EXPECT_EQ(import_cifar10(dir.path()).class_names.back(), "j");
  std::ofstream(dir / "batches.meta.txt") << "a\nb\n";
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, import_cifar10(dir.path()), message);
  EXPECT_TRUE(one_line_naming(message, dir / "batches.meta.txt"));
}

TEST(Cifar10, PartialRecordIsAnError) {
  stride::testing::TempDir dir;
  std::vector<uint8_t> bytes = cifar_file(1, {{1}, {2}});
  bytes.pop_back();
  write_bytes(dir / "batch.bin", bytes);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_cifar({dir / "batch.bin"}, 1, 0, 10), message);
  EXPECT_TRUE(one_line_naming(message, dir / "batch.bin"));
  EXPECT_NE(message.find("3073"), std::string::npos) << message;
}

TEST(Cifar10, LabelOutOfRangeIsAnError) {
  stride::testing::TempDir dir;
  write_bytes(dir / "batch.bin", cifar_file(1, {{1}, {10}}));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, read_cifar({dir / "batch.bin"}, 1, 0, 10), message);
  EXPECT_TRUE(one_line_naming(message, dir / "batch.bin"));
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;
}

TEST(Cifar10, MissingBatchIsNamed) {
  stride::testing::TempDir dir;
  for (int b = 1; b <= 4; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_file(b, {{0}}));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, import_cifar10(dir.path()), message);
  EXPECT_TRUE(one_line_naming(message, dir / "data_batch_5.bin"));
}

TEST(Cifar100, FineAndCoarseLabelsFromTwoLabelBytes) {
  stride::testing::TempDir dir;
  // Byte 0 is the coarse label, byte 1 the fine one.
  write_bytes(dir / "train.bin", cifar_file(1, {{19, 99}, {0, 42}, {7, 3}}));
  write_bytes(dir / "test.bin", cifar_file(2, {{5, 55}}));
  std::ofstream names(dir / "coarse_label_names.txt");
  for (int c = 0; c < 20; ++c) names << "coarse" << c << "\n";
  names.close();

  const ImportedSource fine = import_cifar100(dir.path(), false);
  EXPECT_EQ(fine.source, "cifar100");
  ASSERT_EQ(fine.class_names.size(), 100u);
  EXPECT_EQ(fine.train->label(0), 99);
  EXPECT_EQ(fine.train->label(1), 42);
  EXPECT_EQ(fine.test->label(0), 55);
  expect_hwc(*fine.train, 2, 1, 2);  // two label bytes skipped before the planes
  expect_hwc(*fine.test, 0, 2, 0);

  const ImportedSource coarse = import_cifar100(dir.path(), true);
  ASSERT_EQ(coarse.class_names.size(), 20u);
  EXPECT_EQ(coarse.class_names[19], "coarse19");
  EXPECT_EQ(coarse.train->label(0), 19);
  EXPECT_EQ(coarse.train->label(2), 7);
}

TEST(Cifar100, RecordSizeAndRangeAreChecked) {
  stride::testing::TempDir dir;
  write_bytes(dir / "train.bin", cifar_file(1, {{1}, {2}}));  // one label byte: 3073-byte records
  write_bytes(dir / "test.bin", cifar_file(2, {{5, 55}}));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, import_cifar100(dir.path(), false), message);
  EXPECT_TRUE(one_line_naming(message, dir / "train.bin"));

  write_bytes(dir / "train.bin", cifar_file(1, {{20, 1}}));
  STRIDE_ERROR_MESSAGE(DataError, import_cifar100(dir.path(), true), message);
  EXPECT_TRUE(one_line_naming(message, dir / "train.bin"));
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;
}

}  // namespace
}  // namespace stride::data
