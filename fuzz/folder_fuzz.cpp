// The folder importer's decode path (stb_image, then stb_image_resize to the
// target size), which `stride predict` shares: the first byte picks grey or
// RGB, the target size (the image's own, or one of a few fixed ones) and the
// file extension; the rest is the image file of a one-class folder.
#include <array>
#include <vector>

#include "fuzz_support.h"
#include "stride/data/importers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  if (size == 0) return 0;
  constexpr std::array<std::array<int64_t, 2>, 4> kSizes = {{{0, 0}, {8, 8}, {32, 32}, {5, 7}}};
  const uint8_t mode = data[0];
  data::FolderOptions options;
  options.channels = (mode & 1) ? 3 : 1;
  options.height = kSizes[(mode >> 1) & 3][0];
  options.width = kSizes[(mode >> 1) & 3][1];
  const char* extension = (mode & 8) ? ".jpg" : ".png";

  const auto root = fuzz::scratch_dir() / "folder";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "class");
  fuzz::write_file(root / "class" / (std::string("image") + extension), {data + 1, size - 1});
  return fuzz::run_expecting_stride_errors([&] {
    const data::ImportedSource source = data::import_folder(root, options);
    std::vector<uint8_t> image(static_cast<size_t>(source.train->shape().bytes()));
    source.train->read(0, image.data());
  });
}
