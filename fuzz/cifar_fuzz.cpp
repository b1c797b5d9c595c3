// CIFAR binary batches: the first input byte picks the layout (CIFAR-10's one
// label byte, or CIFAR-100's coarse and fine label bytes and which is used),
// the rest is one batch file for read_cifar; every image is copied out once.
#include <vector>

#include "fuzz_support.h"
#include "stride/data/importers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  if (size == 0) return 0;
  const bool cifar100 = (data[0] & 1) != 0;
  const bool coarse = (data[0] & 2) != 0;
  const auto batch = fuzz::scratch_dir() / "batch.bin";
  fuzz::write_file(batch, {data + 1, size - 1});
  return fuzz::run_expecting_stride_errors([&] {
    const data::ImageSet set = cifar100 ? data::read_cifar({batch}, 2, coarse ? 0 : 1, coarse ? 20 : 100)
                                        : data::read_cifar({batch}, 1, 0, 10);
    std::vector<uint8_t> image(static_cast<size_t>(set.shape().bytes()));
    for (int64_t i = 0; i < set.size(); ++i) set.read(i, image.data());
  });
}
