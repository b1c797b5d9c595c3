// IDX reader (MNIST, Fashion-MNIST): the input is an image file and a label
// file (fuzz_support.h's split_input), plain or gzipped; read_idx reads both
// as `stride prepare mnist` does, then every image is copied out once.
#include <vector>

#include "fuzz_support.h"
#include "stride/data/importers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  const auto parts = fuzz::split_input(data, size, 2);
  const auto images = fuzz::scratch_dir() / "images-idx3-ubyte";
  const auto labels = fuzz::scratch_dir() / "labels-idx1-ubyte";
  fuzz::write_file(images, parts[0]);
  fuzz::write_file(labels, parts[1]);
  return fuzz::run_expecting_stride_errors([&] {
    const data::ImageSet set = data::read_idx(images, labels, 10);
    std::vector<uint8_t> image(static_cast<size_t>(set.shape().bytes()));
    for (int64_t i = 0; i < set.size(); ++i) set.read(i, image.data());
  });
}
