// Shards and manifests: the on-disk layout read back through the raw HDF5
// API (what h5py sees), round trips, and validation — every wrong shape,
// missing dataset, bad key or checksum is a DataError naming the file.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/common/h5.h"
#include "stride/data/manifest.h"
#include "stride/data/shard.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::one_line_naming;
using stride::testing::SyntheticDataset;

const ShardMeta kMeta{"train", "unit", {"a", "b", "c"}};

void write_shard(const std::string& path, int64_t count, ImageShape shape, ShardWriteOptions options = {}) {
  ShardWriter writer(path, count, shape, kMeta, options);
  std::vector<uint8_t> images(static_cast<size_t>(count * shape.bytes()));
  std::vector<int32_t> labels(static_cast<size_t>(count));
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 3);
  writer.append(images.data(), labels.data(), count / 2);
  writer.append(images.data() + count / 2 * shape.bytes(), labels.data() + count / 2, count - count / 2);
  writer.close();
}

class ShardLayout : public ::testing::TestWithParam<bool> {};  // parameter: gzip

TEST_P(ShardLayout, IsWhatH5pyReads) {
  stride::testing::TempDir dir;
  const std::string path = (dir / "s.h5").string();
  write_shard(path, 50, {3, 4, 3}, ShardWriteOptions{16, GetParam()});

  h5::File file = h5::open_file(path);
  h5::Dataset images = h5::open_dataset(file.get(), "images");
  h5::Dataset labels = h5::open_dataset(file.get(), "labels");
  EXPECT_EQ(h5::dataset_dims(images.get()), (std::vector<hsize_t>{50, 3, 4, 3}));
  EXPECT_TRUE(h5::dataset_has_type(images.get(), H5T_NATIVE_UINT8));
  EXPECT_EQ(h5::dataset_dims(labels.get()), (std::vector<hsize_t>{50}));
  EXPECT_TRUE(h5::dataset_has_type(labels.get(), H5T_NATIVE_INT32));
  EXPECT_EQ(h5::read_string_attribute(file.get(), "format"), "stride-shard");
  EXPECT_EQ(h5::read_int_attribute(file.get(), "version"), 1);
  EXPECT_EQ(h5::read_string_attribute(file.get(), "split"), "train");
  EXPECT_EQ(h5::read_string_attribute(file.get(), "source"), "unit");
  EXPECT_EQ(h5::read_int_attribute(file.get(), "num_classes"), 3);
  EXPECT_EQ(h5::read_string_list_attribute(file.get(), "class_names"), kMeta.class_names);

  h5::PropertyList create(H5Dget_create_plist(images.get()));
  ASSERT_EQ(H5Pget_layout(create.get()), H5D_CHUNKED);
  hsize_t chunk[4] = {};
  H5Pget_chunk(create.get(), 4, chunk);
  EXPECT_EQ(chunk[0], 16u);
  EXPECT_EQ(H5Pget_nfilters(create.get()), GetParam() ? 2 : 0);  // shuffle + deflate

  std::vector<hsize_t> dims;
  const auto pixels = h5::read_dataset<uint8_t>(file.get(), "images", &dims);
  for (size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(pixels[i], static_cast<uint8_t>(i * 7)) << i;
  const auto all_labels = h5::read_dataset<int32_t>(file.get(), "labels");
  EXPECT_EQ(all_labels[49], 49 % 3);

  const ShardReader reader(path, ImageShape{3, 4, 3});
  EXPECT_EQ(reader.size(), 50);
  EXPECT_EQ(reader.chunk_images(), 16);
  EXPECT_EQ(reader.split(), "train");
  std::vector<uint8_t> two(2 * 36);
  std::vector<int32_t> two_labels(2);
  reader.read(48, 2, two.data(), two_labels.data());
  EXPECT_EQ(two[0], static_cast<uint8_t>(48 * 36 * 7));
  EXPECT_EQ(two_labels, (std::vector<int32_t>{0, 1}));
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, ShardLayout, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "gzip" : "plain"; });

TEST(Shard, WriterInsistsOnThePromisedCount) {
  stride::testing::TempDir dir;
  const std::string path = (dir / "s.h5").string();
  ShardWriter writer(path, 4, {2, 2, 1}, kMeta, {});
  std::vector<uint8_t> images(20);
  std::vector<int32_t> labels(5);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, writer.append(images.data(), labels.data(), 5), message);
  EXPECT_TRUE(one_line_naming(message, path));
  writer.append(images.data(), labels.data(), 3);
  STRIDE_ERROR_MESSAGE(DataError, writer.close(), message);
  EXPECT_TRUE(one_line_naming(message, path));
}

TEST(Shard, ReaderRejectsWrongLayouts) {
  stride::testing::TempDir dir;
  std::string message;
  const auto expect_rejected = [&](const std::string& path, const char* word, ImageShape expected = {}) {
    STRIDE_ERROR_MESSAGE(DataError, ShardReader(path, expected), message);
    EXPECT_TRUE(one_line_naming(message, path));
    EXPECT_NE(message.find(word), std::string::npos) << message;
  };

  const std::string good = (dir / "good.h5").string();
  write_shard(good, 10, {4, 4, 1});
  expect_rejected(good, "manifest says", ImageShape{4, 4, 3});

  const std::string not_hdf5 = (dir / "text.h5").string();
  std::ofstream(not_hdf5) << "hello";
  expect_rejected(not_hdf5, "");
  expect_rejected((dir / "absent.h5").string(), "");

  const auto make = [&](const std::string& name, auto&& build) {
    const std::string path = (dir / name).string();
    h5::File file = h5::create_file(path);
    build(file.get());
    return path;
  };
  const std::vector<hsize_t> image_dims = {10, 4, 4, 1}, label_dims = {10};
  const std::vector<uint8_t> pixels(160);
  const std::vector<int32_t> labels(10);
  const auto tagged = [](hid_t file) { h5::write_attribute(file, "format", std::string(kShardFormat)); };

  expect_rejected(make("no_format.h5",
                       [&](hid_t f) {
                         h5::write_dataset<uint8_t>(f, "images", image_dims, pixels.data());
                         h5::write_dataset<int32_t>(f, "labels", label_dims, labels.data());
                       }),
                  "format");
  expect_rejected(make("no_labels.h5",
                       [&](hid_t f) {
                         tagged(f);
                         h5::write_dataset<uint8_t>(f, "images", image_dims, pixels.data());
                       }),
                  "'labels' is missing");
  expect_rejected(make("no_images.h5",
                       [&](hid_t f) {
                         tagged(f);
                         h5::write_dataset<int32_t>(f, "labels", label_dims, labels.data());
                       }),
                  "'images' is missing");
  expect_rejected(make("rank3.h5",
                       [&](hid_t f) {
                         tagged(f);
                         const std::vector<hsize_t> dims = {10, 4, 4};
                         h5::write_dataset<uint8_t>(f, "images", dims, pixels.data());
                         h5::write_dataset<int32_t>(f, "labels", label_dims, labels.data());
                       }),
                  "rank 3");
  expect_rejected(make("float_images.h5",
                       [&](hid_t f) {
                         tagged(f);
                         const std::vector<float> values(160);
                         h5::write_dataset<float>(f, "images", image_dims, values.data());
                         h5::write_dataset<int32_t>(f, "labels", label_dims, labels.data());
                       }),
                  "not uint8");
  expect_rejected(make("short_labels.h5",
                       [&](hid_t f) {
                         tagged(f);
                         const std::vector<hsize_t> dims = {9};
                         h5::write_dataset<uint8_t>(f, "images", image_dims, pixels.data());
                         h5::write_dataset<int32_t>(f, "labels", dims, labels.data());
                       }),
                  "9 labels for 10 images");
}

TEST(Manifest, RoundTripsAndChecksums) {
  stride::testing::TempDir dir;
  SyntheticDataset data;
  data.dir = dir / "ds";
  data.split_sizes = {{"train", 250}, {"val", 30}};
  const Manifest written = data.write();
  const Manifest read = load_manifest(data.dir);
  EXPECT_EQ(read.dir, data.dir);
  EXPECT_EQ(read.source, "synthetic");
  EXPECT_EQ(read.shape, data.shape);
  EXPECT_EQ(read.class_names, written.class_names);
  EXPECT_EQ(read.split("train").count, 250);
  ASSERT_EQ(read.split("train").shards.size(), 3u);
  EXPECT_EQ(read.split("train").shards[2].count, 50);
  EXPECT_EQ(read.split("train").shards[2].checksum, crc32_file(data.dir / "train-2.h5"));
  EXPECT_EQ(read.mean, written.mean);
  EXPECT_FALSE(read.has_split("test"));
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, (void)read.split("test"), message);
  EXPECT_TRUE(one_line_naming(message, read.path()));
  EXPECT_NE(message.find("train, val"), std::string::npos) << message;
  EXPECT_NO_THROW(verify_checksums(read));
}

TEST(Manifest, Crc32MatchesZlibOnKnownBytes) {
  stride::testing::TempDir dir;
  std::ofstream(dir / "f") << "123456789";
  EXPECT_EQ(crc32_file(dir / "f"), "cbf43926");  // the CRC-32 check value
}

TEST(Manifest, ChecksumMismatchNamesTheShard) {
  stride::testing::TempDir dir;
  SyntheticDataset data;
  data.dir = dir / "ds";
  data.write();
  const Manifest manifest = load_manifest(data.dir);
  const auto shard = data.dir / "train-1.h5";
  auto bytes = stride::testing::read_bytes(shard);
  bytes[bytes.size() - 5] ^= 1;  // inside the pixel data
  stride::testing::write_bytes(shard, bytes);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, verify_checksums(manifest), message);
  EXPECT_TRUE(one_line_naming(message, shard));
  EXPECT_NE(message.find("checksum"), std::string::npos) << message;
  EXPECT_THROW(verify_checksums(manifest, "test"), DataError);  // a split the manifest lacks
}

// Each manifest corruption: a JSON edit and the key the message must name.
struct ManifestEdit {
  const char* name;
  void (*edit)(nlohmann::json&);
  const char* key;
};

const ManifestEdit kEdits[] = {
    {"missing_image", [](nlohmann::json& j) { j.erase("image"); }, "image"},
    {"zero_height", [](nlohmann::json& j) { j["image"]["height"] = 0; }, "image.height"},
    {"two_channels", [](nlohmann::json& j) { j["image"]["channels"] = 2; }, "image.channels"},
    {"count_mismatch", [](nlohmann::json& j) { j["splits"]["train"]["count"] = 7; }, "splits.train.count"},
    {"shard_count_string", [](nlohmann::json& j) { j["splits"]["train"]["shards"][1]["count"] = "x"; },
     "splits.train.shards[1].count"},
    {"escaping_file", [](nlohmann::json& j) { j["splits"]["train"]["shards"][0]["file"] = "../x.h5"; },
     "splits.train.shards[0].file"},
    {"mean_per_channel",
     [](nlohmann::json& j) {
       j["mean"] = {0.1, 0.2};
     },
     "mean"},
    {"wrong_format", [](nlohmann::json& j) { j["format"] = "other"; }, "format"},
    {"newer_version", [](nlohmann::json& j) { j["version"] = 99; }, "version"},
    {"num_classes", [](nlohmann::json& j) { j["num_classes"] = 3; }, "num_classes"},
};

class ManifestValidation : public ::testing::TestWithParam<ManifestEdit> {};

TEST_P(ManifestValidation, NamesTheFileAndKey) {
  stride::testing::TempDir dir;
  SyntheticDataset data;
  data.dir = dir / "ds";
  data.write();
  const auto path = data.dir / kManifestFile;
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  GetParam().edit(j);
  std::ofstream(path) << j.dump(2);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, load_manifest(data.dir), message);
  EXPECT_TRUE(one_line_naming(message, path));
  EXPECT_NE(message.find(GetParam().key), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Edits, ManifestValidation, ::testing::ValuesIn(kEdits),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Manifest, MissingOrInvalidFileIsNamed) {
  stride::testing::TempDir dir;
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, load_manifest(dir.path()), message);
  EXPECT_TRUE(one_line_naming(message, dir / kManifestFile));
  std::ofstream(dir / kManifestFile) << "{ \"format\": ";
  STRIDE_ERROR_MESSAGE(DataError, load_manifest(dir.path()), message);
  EXPECT_TRUE(one_line_naming(message, dir / kManifestFile));
}

}  // namespace
}  // namespace stride::data
