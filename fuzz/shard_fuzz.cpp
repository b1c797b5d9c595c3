// HDF5 shard reader: the input is a shard file. ShardReader validates the
// layout on open; then the labels and the first rows are read as the loader
// reads them. Reads stay within a few MiB whatever the file claims, so a
// finding is the reader's, not this target's allocation. The HDF5 library
// itself is not instrumented: only Stride's code steers the fuzzer.
#include <algorithm>
#include <vector>

#include "fuzz_support.h"
#include "stride/data/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  const auto path = fuzz::scratch_dir() / "shard.h5";
  fuzz::write_file(path, {data, size});
  return fuzz::run_expecting_stride_errors([&] {
    const data::ShardReader reader(path.string());
    (void)reader.split();
    (void)reader.class_names();
    if (reader.size() <= (int64_t{1} << 20)) (void)reader.read_all_labels();
    const int64_t bytes = reader.shape().bytes();
    const int64_t rows = std::min<int64_t>({reader.size(), std::max<int64_t>(reader.chunk_images(), 1), 4});
    if (bytes <= 0 || rows <= 0 || bytes * rows > (int64_t{4} << 20)) return;
    std::vector<uint8_t> images(static_cast<size_t>(bytes * rows));
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    reader.read(0, rows, images.data(), labels.data());
  });
}
