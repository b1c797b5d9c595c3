// The preparer end to end on IDX, CIFAR and folder sources written by the
// test: split counts per class, shard contents, train statistics, and the
// all-or-nothing output (a failure leaves no dataset-looking directory and
// never touches an existing one).
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/common/h5.h"
#include "stride/data/importers.h"
#include "stride/data/prepare.h"
#include "stride/data/shard.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

namespace fs = std::filesystem;
using stride::testing::idx_images;
using stride::testing::idx_labels;
using stride::testing::one_line_naming;
using stride::testing::write_bytes;
using stride::testing::write_gzip;

constexpr int kSide = 6;

// Source image i: bytes 0..1 hold i, the rest a pattern; label i % 10.
uint8_t indexed_pixel(int64_t i, int64_t k) {
  if (k == 0) return static_cast<uint8_t>(i % 256);
  if (k == 1) return static_cast<uint8_t>(i / 256);
  return static_cast<uint8_t>((i * 3 + k * 29) % 256);
}
int64_t source_index(const uint8_t* image) { return image[0] + 256 * image[1]; }

void write_mnist(const fs::path& dir, int64_t train, int64_t test, int bad_label_at = -1) {
  fs::create_directories(dir);
  for (auto [name, count] : {std::pair{"train", train}, std::pair{"t10k", test}}) {
    std::vector<uint8_t> pixels, labels;
    for (int64_t i = 0; i < count; ++i) {
      for (int64_t k = 0; k < kSide * kSide; ++k) pixels.push_back(indexed_pixel(i, k));
      labels.push_back(static_cast<uint8_t>(i == bad_label_at && name == std::string("train") ? 10 : i % 10));
    }
    write_gzip(dir / (std::string(name) + "-images-idx3-ubyte.gz"),
               idx_images(static_cast<uint32_t>(count), kSide, kSide, pixels));
    write_bytes(dir / (std::string(name) + "-labels-idx1-ubyte"), idx_labels(static_cast<uint32_t>(count), labels));
  }
}

struct SplitContents {
  std::vector<int64_t> indices;  // source index of each image, in shard order
  std::vector<int32_t> labels;
  std::vector<uint8_t> pixels;
};

SplitContents read_split(const Manifest& m, const std::string& split) {
  SplitContents out;
  for (const ShardEntry& entry : m.split(split).shards) {
    const ShardReader shard(m.shard_path(entry).string(), m.shape);
    EXPECT_EQ(shard.size(), entry.count);
    EXPECT_EQ(shard.split(), split);
    EXPECT_EQ(shard.class_names(), m.class_names);
    std::vector<uint8_t> pixels(static_cast<size_t>(shard.size() * m.shape.bytes()));
    std::vector<int32_t> labels(static_cast<size_t>(shard.size()));
    shard.read(0, shard.size(), pixels.data(), labels.data());
    for (int64_t i = 0; i < shard.size(); ++i)
      out.indices.push_back(source_index(&pixels[static_cast<size_t>(i * m.shape.bytes())]));
    out.labels.insert(out.labels.end(), labels.begin(), labels.end());
    out.pixels.insert(out.pixels.end(), pixels.begin(), pixels.end());
  }
  return out;
}

// Everything in `dir` except the names given: staging or leftover directories.
std::vector<std::string> other_entries(const fs::path& dir, const std::set<std::string>& expected) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (!expected.count(entry.path().filename().string())) out.push_back(entry.path().filename().string());
  return out;
}

PrepareOptions mnist_options(const stride::testing::TempDir& dir) {
  PrepareOptions o;
  o.source = "fashion-mnist";
  o.from = dir / "src";
  o.out = dir / "out";
  o.shard_size = 100;
  o.chunk_size = 32;
  o.val_fraction = 0.1;
  return o;
}

TEST(Prepare, IdxSourceBecomesStratifiedShards) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 300, 40);
  const PrepareResult result = prepare_dataset(mnist_options(dir));
  EXPECT_GE(result.seconds, 0);
  EXPECT_EQ(other_entries(dir.path(), {"src", "out"}), std::vector<std::string>{});

  const Manifest m = load_manifest(dir / "out");
  EXPECT_EQ(m.source, "fashion-mnist");
  EXPECT_EQ(m.shape, (ImageShape{kSide, kSide, 1}));
  EXPECT_EQ(m.class_names, fashion_mnist_class_names());
  EXPECT_EQ(m.split("train").count, 270);
  EXPECT_EQ(m.split("val").count, 30);
  EXPECT_EQ(m.split("test").count, 40);
  ASSERT_EQ(m.split("train").shards.size(), 3u);
  EXPECT_EQ(m.split("train").shards[0].file, "train-00000.h5");
  EXPECT_EQ(m.split("train").shards[2].count, 70);
  EXPECT_NO_THROW(verify_checksums(m));
  EXPECT_EQ(result.manifest.split("train").count, 270);

  const SplitContents train = read_split(m, "train"), val = read_split(m, "val"), test = read_split(m, "test");
  std::map<int32_t, int> train_per_class, val_per_class;
  std::set<int64_t> seen;
  for (const auto* split : {&train, &val}) {
    for (size_t i = 0; i < split->indices.size(); ++i) {
      const int64_t index = split->indices[i];
      EXPECT_TRUE(seen.insert(index).second) << "image " << index << " in two splits";
      EXPECT_EQ(split->labels[i], index % 10) << "label of image " << index;
      for (int64_t k = 0; k < kSide * kSide; ++k)
        ASSERT_EQ(split->pixels[i * kSide * kSide + static_cast<size_t>(k)], indexed_pixel(index, k));
      (split == &train ? train_per_class : val_per_class)[split->labels[i]]++;
    }
  }
  EXPECT_EQ(seen.size(), 300u);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(train_per_class[c], 27) << "class " << c;
    EXPECT_EQ(val_per_class[c], 3) << "class " << c;
  }
  EXPECT_TRUE(std::is_sorted(train.indices.begin(), train.indices.end()));  // splits keep the source order
  for (int64_t i = 0; i < 40; ++i) EXPECT_EQ(test.indices[static_cast<size_t>(i)], i);

  // Train statistics: per-channel mean and (population) std of pixels / 255.
  double sum = 0, sum_squares = 0;
  for (uint8_t v : train.pixels) {
    sum += v / 255.0;
    sum_squares += (v / 255.0) * (v / 255.0);
  }
  const double n = static_cast<double>(train.pixels.size());
  ASSERT_EQ(m.mean.size(), 1u);
  EXPECT_NEAR(m.mean[0], sum / n, 1e-12);
  EXPECT_NEAR(m.std[0], std::sqrt(sum_squares / n - (sum / n) * (sum / n)), 1e-9);
}

TEST(Prepare, ClassSubsetKeepsAndRenumbersTheChosenClasses) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 300, 40);
  PrepareOptions o = mnist_options(dir);
  o.classes = {"Sneaker", "2", "Trouser"};  // names or indices, in the order wanted
  prepare_dataset(o);
  const Manifest m = load_manifest(dir / "out");
  EXPECT_EQ(m.class_names, (std::vector<std::string>{"Sneaker", "Pullover", "Trouser"}));
  EXPECT_EQ(m.split("train").count + m.split("val").count, 90);
  EXPECT_EQ(m.split("test").count, 12);
  const std::map<int64_t, int32_t> relabel = {{7, 0}, {2, 1}, {1, 2}};
  for (const char* name : {"train", "val", "test"}) {
    const SplitContents split = read_split(m, name);
    for (size_t i = 0; i < split.indices.size(); ++i) {
      const int64_t original = split.indices[i] % 10;  // the source's label of that image
      ASSERT_TRUE(relabel.count(original)) << name << ": image " << split.indices[i] << " of class " << original;
      EXPECT_EQ(split.labels[i], relabel.at(original));
    }
  }
  o.classes = {"Boot"};
  try {
    prepare_dataset(o);
    FAIL() << "an unknown class was accepted";
  } catch (const stride::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'Boot'"), std::string::npos) << e.what();
  }
}

TEST(Prepare, GzipShardsCarryTheFiltersAndTheSamePixels) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 100, 10);
  PrepareOptions o = mnist_options(dir);
  o.compression = "gzip";
  const Manifest m = prepare_dataset(o).manifest;
  h5::File file = h5::open_file(m.shard_path(m.split("train").shards[0]).string());
  h5::Dataset images = h5::open_dataset(file.get(), "images");
  h5::PropertyList create(H5Dget_create_plist(images.get()));
  EXPECT_EQ(H5Pget_nfilters(create.get()), 2);
  const SplitContents test = read_split(m, "test");
  for (int64_t k = 0; k < kSide * kSide; ++k)
    EXPECT_EQ(test.pixels[static_cast<size_t>(36 * 9 + k)], indexed_pixel(9, k));
}

TEST(Prepare, FailedImportLeavesNothingBehind) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 100, 10, /*bad_label_at=*/57);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, prepare_dataset(mnist_options(dir)), message);
  EXPECT_TRUE(one_line_naming(message, dir / "src" / "train-labels-idx1-ubyte"));
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(other_entries(dir.path(), {"src"}), std::vector<std::string>{});
}

TEST(Prepare, FailureWhileWritingShardsLeavesNoOutput) {
  // A folder source decodes lazily, so a bad image fails after shards were started.
  stride::testing::TempDir dir;
  std::vector<uint8_t> rgb(4 * 4 * 3, 90);
  for (const char* cls : {"a", "b"}) {
    fs::create_directories(dir / "src" / cls);
    for (int i = 0; i < 5; ++i)
      stbi_write_png((dir / "src" / cls / (std::to_string(i) + ".png")).c_str(), 4, 4, 3, rgb.data(), 12);
  }
  std::ofstream(dir / "src" / "b" / "9.png") << "broken";
  PrepareOptions o;
  o.source = "folder";
  o.from = dir / "src";
  o.out = dir / "out";
  o.val_fraction = 0;
  o.test_fraction = 0;
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, prepare_dataset(o), message);
  EXPECT_TRUE(one_line_naming(message, dir / "src" / "b" / "9.png"));
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(other_entries(dir.path(), {"src"}), std::vector<std::string>{});
}

TEST(Prepare, ExistingDatasetIsReplacedOnlyBySuccess) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 300, 40);
  prepare_dataset(mnist_options(dir));
  const auto manifest_before = stride::testing::read_bytes(dir / "out" / kManifestFile);
  const auto shard_before = stride::testing::read_bytes(dir / "out" / "train-00002.h5");

  write_mnist(dir / "bad", 300, 40, 3);
  PrepareOptions broken = mnist_options(dir);
  broken.from = dir / "bad";
  EXPECT_THROW(prepare_dataset(broken), DataError);
  EXPECT_EQ(stride::testing::read_bytes(dir / "out" / kManifestFile), manifest_before);
  EXPECT_EQ(stride::testing::read_bytes(dir / "out" / "train-00002.h5"), shard_before);
  EXPECT_EQ(other_entries(dir.path(), {"src", "bad", "out"}), std::vector<std::string>{});

  PrepareOptions bigger = mnist_options(dir);
  bigger.shard_size = 1000;
  prepare_dataset(bigger);
  EXPECT_FALSE(fs::exists(dir / "out" / "train-00002.h5")) << "the old dataset's files remain";
  EXPECT_EQ(load_manifest(dir / "out").split("train").shards.size(), 1u);
  EXPECT_EQ(other_entries(dir.path(), {"src", "bad", "out"}), std::vector<std::string>{});
}

TEST(Prepare, RefusesToReplaceWhatIsNotADataset) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 50, 10);
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out" / "precious.txt") << "keep me";
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, prepare_dataset(mnist_options(dir)), message);
  EXPECT_TRUE(one_line_naming(message, dir / "out"));
  EXPECT_TRUE(fs::exists(dir / "out" / "precious.txt"));
}

TEST(Prepare, BadOptionsAreConfigErrors) {
  stride::testing::TempDir dir;
  PrepareOptions o = mnist_options(dir);
  o.source = "imagenet";
  EXPECT_THROW(prepare_dataset(o), ConfigError);
  o = mnist_options(dir);
  o.compression = "lzf";
  EXPECT_THROW(prepare_dataset(o), ConfigError);
  o = mnist_options(dir);
  o.val_fraction = 1.0;
  EXPECT_THROW(prepare_dataset(o), ConfigError);
  o = mnist_options(dir);
  o.shard_size = 0;
  EXPECT_THROW(prepare_dataset(o), ConfigError);
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(Prepare, FolderSourceSplitsOffATestSet) {
  stride::testing::TempDir dir;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 10; ++i) {
      std::vector<uint8_t> rgb(5 * 5 * 3, static_cast<uint8_t>(c * 80 + i));
      fs::create_directories(dir / "src" / ("class" + std::to_string(c)));
      stbi_write_png((dir / "src" / ("class" + std::to_string(c)) / (std::to_string(i) + ".png")).c_str(), 5, 5, 3,
                     rgb.data(), 15);
    }
  PrepareOptions o;
  o.source = "folder";
  o.from = dir / "src";
  o.out = dir / "out";
  o.val_fraction = 0.1;
  o.test_fraction = 0.2;
  o.height = 4;
  o.width = 4;
  const Manifest m = prepare_dataset(o).manifest;
  EXPECT_EQ(m.shape, (ImageShape{4, 4, 3}));
  EXPECT_EQ(m.class_names, (std::vector<std::string>{"class0", "class1", "class2"}));
  EXPECT_EQ(m.split("train").count, 21);
  EXPECT_EQ(m.split("val").count, 3);
  EXPECT_EQ(m.split("test").count, 6);
  std::map<int32_t, int> test_per_class;
  for (int32_t label : read_split(load_manifest(dir / "out"), "test").labels) test_per_class[label]++;
  EXPECT_EQ(test_per_class, (std::map<int32_t, int>{{0, 2}, {1, 2}, {2, 2}}));
}

TEST(Prepare, CifarSourceKeepsItsTestSet) {
  stride::testing::TempDir dir;
  const auto record = [](uint8_t label, uint8_t value) {
    std::vector<uint8_t> r(1 + 3072, value);
    r[0] = label;
    return r;
  };
  fs::create_directories(dir / "src");
  for (int b = 1; b <= 5; ++b) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 10; ++i) {
      const auto r = record(static_cast<uint8_t>(i), static_cast<uint8_t>(b * 10 + i));
      bytes.insert(bytes.end(), r.begin(), r.end());
    }
    write_bytes(dir / "src" / ("data_batch_" + std::to_string(b) + ".bin"), bytes);
  }
  write_bytes(dir / "src" / "test_batch.bin", record(4, 7));
  PrepareOptions o;
  o.source = "cifar10";
  o.from = dir / "src";
  o.out = dir / "out";
  o.val_fraction = 0.2;
  const Manifest m = prepare_dataset(o).manifest;
  EXPECT_EQ(m.shape, (ImageShape{32, 32, 3}));
  EXPECT_EQ(m.split("train").count, 40);
  EXPECT_EQ(m.split("val").count, 10);
  EXPECT_EQ(m.split("test").count, 1);
  ASSERT_EQ(m.mean.size(), 3u);
  EXPECT_DOUBLE_EQ(m.mean[0], m.mean[2]);  // flat images: every channel alike
}

TEST(StratifiedSplit, CountsPerClassAndDeterminism) {
  std::vector<int32_t> labels;
  for (int i = 0; i < 1000; ++i) labels.push_back(i % 7 == 0 ? 0 : (i % 3) + 1);  // uneven classes
  const SplitIndices a = stratified_split(labels, 5, 0.1, 0.2, 1), b = stratified_split(labels, 5, 0.1, 0.2, 1);
  const SplitIndices c = stratified_split(labels, 5, 0.1, 0.2, 2);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  std::vector<int64_t> per_class(5);
  for (int32_t l : labels) per_class[static_cast<size_t>(l)]++;
  for (int32_t cls = 0; cls < 5; ++cls) {
    const auto count = [&](const std::vector<int64_t>& split) {
      return std::count_if(split.begin(), split.end(),
                           [&](int64_t i) { return labels[static_cast<size_t>(i)] == cls; });
    };
    const int64_t n = per_class[static_cast<size_t>(cls)];
    EXPECT_EQ(count(a.test), std::llround(n * 0.2)) << "class " << cls;
    EXPECT_EQ(count(a.val), std::llround(n * 0.1)) << "class " << cls;
    EXPECT_EQ(count(a.train), n - std::llround(n * 0.2) - std::llround(n * 0.1)) << "class " << cls;
  }
  std::vector<int64_t> all;
  for (const auto* split : {&a.train, &a.val, &a.test}) {
    EXPECT_TRUE(std::is_sorted(split->begin(), split->end()));
    all.insert(all.end(), split->begin(), split->end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 1000u);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(all[static_cast<size_t>(i)], i);
}

}  // namespace
}  // namespace stride::data
