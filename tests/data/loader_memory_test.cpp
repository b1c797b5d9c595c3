// Bounded memory: a split many times larger than the loader's buffers streams
// through with bytes_held() under a bound computed from the options alone,
// and the process's resident memory grows by a fraction of the split's size.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "data_fixtures.h"
#include "stride/data/loader.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

using stride::testing::SyntheticDataset;

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST(LoaderMemory, StaysBoundedOnASplitFarLargerThanItsBuffers) {
  stride::testing::TempDir dir;
  SyntheticDataset data;
  data.dir = dir / "big";
  data.shape = {10, 10, 1};
  data.shard_size = 40000;
  data.chunk = 256;
  data.split_sizes = {{"train", 160000}};  // 16 MB of pixels, 64 MB as floats
  const Manifest manifest = data.write();
  const int64_t image_bytes = data.shape.bytes();
  const int64_t split_bytes = 160000 * image_bytes;

  LoaderOptions o;
  o.batch_size = 64;
  o.workers = 2;
  o.prefetch = 2;
  o.shuffle_window = 2048;
  o.augmentation.normalize = false;
  o.verify_checksums = false;

  // Two windows of uint8 images and labels, a ring of max(prefetch, workers) + 1
  // float batches, per-worker scratch; bookkeeping is at most 128 bytes per
  // 256-image chunk (half a byte per image, against 100 bytes of pixels).
  const int64_t windows = 2 * o.shuffle_window * (image_bytes + 4);
  const int64_t ring = (std::max(o.prefetch, o.workers) + 1) * o.batch_size * (image_bytes * 4 + 4 + 8);
  const int64_t chunks = 160000 / data.chunk;
  const int64_t bound = windows + ring + o.workers * image_bytes * 4 + 128 * chunks + 4096;

  LoaderOptions small = o;
  small.limit = 4096;
  const int64_t small_held = Loader(manifest, small).bytes_held();

  const int64_t before = resident_bytes();
  Loader loader(manifest, o);
  EXPECT_LE(loader.bytes_held(), bound);
  EXPECT_LT(loader.bytes_held() - small_held, 128 * chunks) << "buffers grow with the split";
  EXPECT_LT(loader.bytes_held() * 20, split_bytes);

  int64_t peak = resident_bytes(), images = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(epoch);
    for (int64_t step = 0; const Batch* b = loader.next(); ++step) {
      images += b->size;
      if (step % 200 == 0) {
        ASSERT_EQ(SyntheticDataset::decode(b->images), b->indices[0]);
        peak = std::max(peak, resident_bytes());
        ASSERT_LE(loader.bytes_held(), bound);
      }
    }
  }
  EXPECT_EQ(images, 2 * 160000);
  const int64_t growth = peak - before;
  RecordProperty("rss_growth_bytes", std::to_string(growth));
  RecordProperty("bytes_held", std::to_string(loader.bytes_held()));
  // The split is 16 MB; holding it would grow RSS by at least that much.
  EXPECT_LT(growth, split_bytes / 3) << "resident memory grew by " << growth << " bytes";
}

}  // namespace
}  // namespace stride::data
