// manifest.json: the input is the manifest of a dataset directory; a manifest
// that loads is then checked against its (mostly absent) shards, as `stride
// train` does before it reads any.
#include "fuzz_support.h"
#include "stride/data/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stride;
  const auto dir = fuzz::scratch_dir() / "dataset";
  std::filesystem::create_directories(dir);
  fuzz::write_file(dir / data::kManifestFile, {data, size});
  return fuzz::run_expecting_stride_errors([&] {
    const data::Manifest manifest = data::load_manifest(dir);
    for (const auto& [name, split] : manifest.splits) (void)manifest.split(name);
    data::verify_checksums(manifest);
  });
}
