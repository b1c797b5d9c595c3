// The streaming loader over synthetic shards whose pixels encode each image's
// split index: every epoch covers the split exactly once across ranks (with
// the documented tail policies), the order depends on (seed, epoch) only,
// N ranks with batch B/N see exactly one rank's batch-B batches, and
// evaluation batches hold the exact normalised pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

#include "data_fixtures.h"
#include "stride/common/error.h"
#include "stride/data/loader.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::SyntheticDataset;

// One rank's epoch: per step, the split indices it was given.
using Epoch = std::vector<std::vector<int64_t>>;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_.dir = dir_ / "ds";
    data_.split_sizes = {{"train", 250}, {"val", 37}};
    data_.shard_size = 100;  // shards of 100, 100, 50 in 16-image chunks
    data_.chunk = 16;
    manifest_ = data_.write();
  }

  LoaderOptions options(int64_t batch, int world = 1, TailPolicy tail = TailPolicy::keep) const {
    LoaderOptions o;
    o.batch_size = batch;
    o.world = world;
    o.tail = tail;
    o.seed = 11;
    o.shuffle_window = 40;  // several windows per epoch
    o.augmentation.normalize = false;
    return o;
  }

  // Runs one epoch and checks every delivered image against the index it claims.
  Epoch run(LoaderOptions o, int64_t epoch = 0, int64_t* steps_seen = nullptr) const {
    Loader loader(manifest_, o);
    loader.start_epoch(epoch);
    Epoch out;
    const int64_t bytes = manifest_.shape.bytes();
    while (const Batch* b = loader.next()) {
      EXPECT_EQ(b->step, static_cast<int64_t>(out.size()));
      EXPECT_LE(b->size, o.batch_size);
      std::vector<int64_t> indices(b->indices, b->indices + b->size);
      for (int64_t i = 0; i < b->size; ++i) {
        EXPECT_EQ(SyntheticDataset::decode(b->images + i * bytes), indices[static_cast<size_t>(i)]);
        EXPECT_EQ(b->labels[i], data_.label(indices[static_cast<size_t>(i)]));
      }
      out.push_back(std::move(indices));
    }
    EXPECT_EQ(static_cast<int64_t>(out.size()), loader.steps_per_epoch());
    if (steps_seen) *steps_seen = static_cast<int64_t>(out.size());
    return out;
  }

  std::vector<Epoch> run_ranks(int64_t batch, int world, TailPolicy tail, int64_t epoch = 0) const {
    std::vector<Epoch> ranks;
    for (int r = 0; r < world; ++r) {
      LoaderOptions o = options(batch, world, tail);
      o.rank = r;
      ranks.push_back(run(o, epoch));
    }
    return ranks;
  }

  static std::vector<int64_t> flatten(const Epoch& e) {
    std::vector<int64_t> out;
    for (const auto& step : e) out.insert(out.end(), step.begin(), step.end());
    return out;
  }

  static std::vector<int64_t> flatten(const std::vector<Epoch>& ranks) {
    std::vector<int64_t> out;
    for (const Epoch& e : ranks) {
      const auto f = flatten(e);
      out.insert(out.end(), f.begin(), f.end());
    }
    return out;
  }

  static std::vector<int64_t> iota(int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
  }

  stride::testing::TempDir dir_;
  SyntheticDataset data_;
  Manifest manifest_;
};

TEST_F(LoaderTest, KeepVisitsEveryImageOnceAcrossRanks) {
  for (int world : {1, 2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    const auto ranks = run_ranks(16, world, TailPolicy::keep);
    auto all = flatten(ranks);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, iota(250));
    for (const Epoch& e : ranks) EXPECT_EQ(e.size(), ranks[0].size()) << "ranks disagree on steps";
    // The last global batch is split as evenly as possible.
    std::vector<size_t> last;
    for (const Epoch& e : ranks) last.push_back(e.back().size());
    EXPECT_LE(*std::max_element(last.begin(), last.end()) - *std::min_element(last.begin(), last.end()), 1u);
  }
}

TEST_F(LoaderTest, DropSkipsThePartialLastBatch) {
  for (int world : {1, 2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    const int64_t global = 16 * world;
    const auto ranks = run_ranks(16, world, TailPolicy::drop);
    auto all = flatten(ranks);
    EXPECT_EQ(static_cast<int64_t>(all.size()), 250 / global * global);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "an image was seen twice";
    for (const Epoch& e : ranks) {
      EXPECT_EQ(static_cast<int64_t>(e.size()), 250 / global);
      for (const auto& step : e) EXPECT_EQ(step.size(), 16u);
    }
    // What is dropped is the tail of the order, the same images one rank with the global batch drops.
    auto single = flatten(run(options(global, 1, TailPolicy::drop)));
    std::sort(single.begin(), single.end());
    EXPECT_EQ(all, single);
  }
}

TEST_F(LoaderTest, PadFillsTheLastBatchWithTheStartOfTheOrder) {
  const auto order = flatten(run(options(250, 1, TailPolicy::keep)));  // one step: the whole order
  ASSERT_EQ(order.size(), 250u);
  for (int world : {1, 2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    const int64_t global = 16 * world, steps = (250 + global - 1) / global;
    const auto ranks = run_ranks(16, world, TailPolicy::pad);
    for (const Epoch& e : ranks) {
      ASSERT_EQ(static_cast<int64_t>(e.size()), steps);
      for (const auto& step : e) EXPECT_EQ(step.size(), 16u);
    }
    // Rank order of the global batches reproduces the order, then wraps to its start.
    std::vector<int64_t> global_order;
    for (int64_t s = 0; s < steps; ++s)
      for (const Epoch& e : ranks) global_order.insert(global_order.end(), e[s].begin(), e[s].end());
    ASSERT_EQ(static_cast<int64_t>(global_order.size()), steps * global);
    for (size_t p = 0; p < global_order.size(); ++p) ASSERT_EQ(global_order[p], order[p % 250]) << "position " << p;
  }
}

TEST_F(LoaderTest, KeepTailShorterThanTheRanksIsPaddedToOneImageEach) {
  // Batch 83 on 3 ranks: global 249, so the last global batch holds 1 image;
  // it is padded to 3 so that every rank still takes the step.
  const auto odd = run_ranks(83, 3, TailPolicy::keep);
  const auto order = flatten(run(options(250, 1, TailPolicy::keep)));
  for (const Epoch& e : odd) {
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e.back().size(), 1u);
  }
  EXPECT_EQ(odd[0].back()[0], order[249]);
  EXPECT_EQ(odd[1].back()[0], order[0]);  // padding wraps to the start of the order
  EXPECT_EQ(odd[2].back()[0], order[1]);
  auto all = flatten(odd);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  EXPECT_EQ(all, iota(250));
}

TEST_F(LoaderTest, RanksWithBatchBOverNSeeOneRankWithBatchB) {
  for (TailPolicy tail : {TailPolicy::keep, TailPolicy::drop, TailPolicy::pad}) {
    const Epoch single = run(options(48, 1, tail), 3);
    const auto ranks = run_ranks(16, 3, tail, 3);
    ASSERT_EQ(ranks[0].size(), single.size());
    for (size_t s = 0; s < single.size(); ++s) {
      std::vector<int64_t> joined;
      for (const Epoch& e : ranks) joined.insert(joined.end(), e[s].begin(), e[s].end());
      ASSERT_EQ(joined, single[s]) << "step " << s;
    }
  }
}

TEST_F(LoaderTest, OrderDependsOnSeedAndEpochOnly) {
  const Epoch a = run(options(32), 0), again = run(options(32), 0), next = run(options(32), 1);
  EXPECT_EQ(a, again);
  EXPECT_NE(flatten(a), flatten(next));
  LoaderOptions reseeded = options(32);
  reseeded.seed = 12;
  EXPECT_NE(flatten(run(reseeded, 0)), flatten(a));
  // Nor the worker count, nor the prefetch depth.
  LoaderOptions busy = options(32);
  busy.workers = 3;
  busy.prefetch = 1;
  EXPECT_EQ(run(busy, 0), a);
  // The order is a real shuffle: not sorted, and not merely shards or chunks in another order.
  const auto flat = flatten(a);
  EXPECT_FALSE(std::is_sorted(flat.begin(), flat.end()));
  int ascending_neighbours = 0;
  for (size_t i = 1; i < flat.size(); ++i) ascending_neighbours += flat[i] == flat[i - 1] + 1;
  EXPECT_LT(ascending_neighbours, 25);
}

TEST_F(LoaderTest, WithoutShuffleTheOrderIsNatural) {
  LoaderOptions o = options(64);
  o.shuffle = false;
  EXPECT_EQ(flatten(run(o, 5)), iota(250));
}

TEST_F(LoaderTest, LimitUsesOnlyTheFirstImages) {
  LoaderOptions o = options(32);
  o.limit = 130;  // crosses into the second shard, mid-chunk
  Loader loader(manifest_, o);
  EXPECT_EQ(loader.split_size(), 130);
  EXPECT_EQ(loader.steps_per_epoch(), 5);
  auto all = flatten(run(o));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(130));
  o.limit = 251;
  EXPECT_THROW(Loader(manifest_, o), DataError);
}

TEST_F(LoaderTest, SkipResumesAtTheSameBatches) {
  const Epoch full = run(options(16), 2);
  Loader loader(manifest_, options(16));
  loader.start_epoch(2);
  ASSERT_NE(loader.next(), nullptr);
  ASSERT_NE(loader.next(), nullptr);
  loader.skip(3);
  const Batch* b = loader.next();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->step, 5);
  EXPECT_EQ(std::vector<int64_t>(b->indices, b->indices + b->size), full[5]);
  int64_t rest = 1;
  while (loader.next()) ++rest;
  EXPECT_EQ(5 + rest, static_cast<int64_t>(full.size()));

  loader.start_epoch(2);  // restarting an epoch starts from its first step
  loader.skip(full.size() - 1);
  b = loader.next();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(std::vector<int64_t>(b->indices, b->indices + b->size), full.back());
  EXPECT_EQ(loader.next(), nullptr);
  loader.start_epoch(2);
  loader.skip(1000);
  EXPECT_EQ(loader.next(), nullptr);
}

TEST_F(LoaderTest, SamplesAndStepsAgreeWithWhatIsDelivered) {
  for (int rank = 0; rank < 3; ++rank) {
    LoaderOptions o = options(16, 3, TailPolicy::keep);
    o.rank = rank;
    Loader loader(manifest_, o);
    loader.start_epoch(0);
    int64_t samples = 0, global = 0;
    while (const Batch* b = loader.next()) {
      samples += b->size;
      global += b->global_size;
    }
    EXPECT_EQ(samples, loader.samples_per_epoch());
    EXPECT_EQ(global, 250);
    EXPECT_GE(loader.wait_seconds(), 0);
  }
}

TEST_F(LoaderTest, EvaluationBatchesHoldExactNormalisedPixels) {
  LoaderOptions o = options(10);
  o.split = "val";
  o.shuffle = false;
  o.augment = false;
  o.augmentation = AugmentOptions{};  // normalize with the manifest's mean 0.25, std 0.5
  o.augmentation.crop_padding = 2;    // ignored: augment is off
  o.augmentation.hflip = true;
  Loader loader(manifest_, o);
  loader.start_epoch(0);
  const int64_t bytes = manifest_.shape.bytes();
  int64_t seen = 0;
  while (const Batch* b = loader.next()) {
    for (int64_t i = 0; i < b->size; ++i) {
      EXPECT_EQ(b->indices[i], seen);
      for (int64_t k = 0; k < bytes; ++k)
        ASSERT_NEAR(b->images[i * bytes + k], (SyntheticDataset::pixel(seen, k) / 255.0 - 0.25) / 0.5, 1e-6)
            << "image " << seen << " value " << k;
      ++seen;
    }
  }
  EXPECT_EQ(seen, 37);
}

TEST_F(LoaderTest, AugmentedImagesFollowTheAugmenterWhereverComputed) {
  LoaderOptions o = options(16, 2);
  o.augment = true;
  o.augmentation.crop_padding = 1;
  o.augmentation.hflip = true;
  o.augmentation.rotate_deg = 15;
  const Augmenter reference(o.augmentation, true, manifest_.shape, manifest_.mean, manifest_.std, o.seed);
  const int64_t bytes = manifest_.shape.bytes();
  std::vector<uint8_t> source(static_cast<size_t>(bytes));
  std::vector<float> scratch(static_cast<size_t>(bytes)), expected(static_cast<size_t>(bytes));
  for (int rank = 0; rank < 2; ++rank) {
    o.rank = rank;
    o.workers = 1 + rank;
    Loader loader(manifest_, o);
    loader.start_epoch(4);
    int64_t checked = 0;
    while (const Batch* b = loader.next()) {
      for (int64_t i = 0; i < b->size; i += 5) {
        for (int64_t k = 0; k < bytes; ++k) source[static_cast<size_t>(k)] = SyntheticDataset::pixel(b->indices[i], k);
        reference.apply(source.data(), 4, b->indices[i], scratch.data(), expected.data());
        for (int64_t k = 0; k < bytes; ++k) ASSERT_FLOAT_EQ(b->images[i * bytes + k], expected[static_cast<size_t>(k)]);
        ++checked;
      }
    }
    EXPECT_GT(checked, 20);
  }
}

TEST_F(LoaderTest, ChecksumMismatchIsCaughtAtOpen) {
  const auto shard = data_.dir / "train-1.h5";
  auto bytes = stride::testing::read_bytes(shard);
  bytes[bytes.size() - 3] ^= 0xff;
  stride::testing::write_bytes(shard, bytes);
  std::string message;
  STRIDE_ERROR_MESSAGE(DataError, Loader(manifest_, options(16)), message);
  EXPECT_TRUE(stride::testing::one_line_naming(message, shard));
  LoaderOptions unchecked = options(16);
  unchecked.verify_checksums = false;
  EXPECT_NO_THROW(Loader(manifest_, unchecked));
}

TEST_F(LoaderTest, PipelineErrorsReachTheCaller) {
  // A shard whose labels lie outside the manifest's classes: found by the
  // reader thread mid-epoch, rethrown by next() on the caller's thread.
  const auto path = data_.dir / "train-2.h5";
  {
    ShardWriter writer(path.string(), 50, data_.shape, ShardMeta{"train", "synthetic", manifest_.class_names},
                       ShardWriteOptions{16, false});
    std::vector<uint8_t> images(static_cast<size_t>(50 * data_.shape.bytes()));
    std::vector<int32_t> labels(50, 99);
    writer.append(images.data(), labels.data(), 50);
    writer.close();
  }
  LoaderOptions o = options(16);
  o.verify_checksums = false;
  o.workers = 2;
  Loader loader(manifest_, o);
  for (int attempt = 0; attempt < 2; ++attempt) {  // and again after a restart
    loader.start_epoch(attempt);
    std::string message;
    STRIDE_ERROR_MESSAGE(DataError, while (loader.next()){}, message);
    EXPECT_TRUE(stride::testing::one_line_naming(message, path));
    EXPECT_NE(message.find("label 99"), std::string::npos) << message;
  }
}

TEST_F(LoaderTest, BadOptionsAreConfigErrors) {
  LoaderOptions o = options(0);
  EXPECT_THROW(Loader(manifest_, o), ConfigError);
  o = options(16, 2);
  o.rank = 2;
  EXPECT_THROW(Loader(manifest_, o), ConfigError);
  o = options(16);
  o.workers = 0;
  EXPECT_THROW(Loader(manifest_, o), ConfigError);
  o = options(16);
  o.split = "test";
  EXPECT_THROW(Loader(manifest_, o), DataError);
  o = options(300, 1, TailPolicy::drop);  // not one whole global batch
  EXPECT_THROW(Loader(manifest_, o), DataError);
  Loader loader(manifest_, options(16));
  EXPECT_THROW(loader.next(), Error);  // before start_epoch
}

TEST(TailPolicy, ParsesTheThreeNames) {
  EXPECT_EQ(parse_tail_policy("keep"), TailPolicy::keep);
  EXPECT_EQ(parse_tail_policy("drop"), TailPolicy::drop);
  EXPECT_EQ(parse_tail_policy("pad"), TailPolicy::pad);
  try {
    parse_tail_policy("wrap");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'wrap'"), std::string::npos);
  }
}

TEST(LoaderGzip, CompressedShardsReadTheSame) {
  stride::testing::TempDir dir;
  SyntheticDataset data;
  data.dir = dir / "ds";
  data.gzip = true;
  data.split_sizes = {{"train", 90}};
  const Manifest manifest = data.write();
  LoaderOptions o;
  o.batch_size = 20;
  o.augmentation.normalize = false;
  Loader loader(manifest, o);
  loader.start_epoch(0);
  std::vector<int64_t> seen;
  while (const Batch* b = loader.next())
    for (int64_t i = 0; i < b->size; ++i) {
      ASSERT_EQ(SyntheticDataset::decode(b->images + i * manifest.shape.bytes()), b->indices[i]);
      seen.push_back(b->indices[i]);
    }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 90u);
  for (int64_t i = 0; i < 90; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
}

}  // namespace
}  // namespace stride::data
