// Writes the seed corpus of every fuzz target into OUT/<target>/ from the real
// writers and formats: IDX pairs (plain and gzipped), CIFAR-10/100 batches,
// PNG and JPEG images (stb_image_write), manifests and shards written by
// save_manifest / ShardWriter, checkpoints written by save_checkpoint. Each
// seed is a few KiB. The INI seeds are the ready configs (make_corpus.sh).
//   fuzz_make_corpus OUT
#include <stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "stride/core/checkpoint.h"
#include "stride/data/manifest.h"
#include "stride/data/shard.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes pattern(size_t count, unsigned seed) {
  Bytes out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint8_t>((i * 37 + seed * 101 + (i >> 3)) & 0xff);
  return out;
}

void append_u32_be(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// The fuzz_support.h split_input layout: a 4-byte little-endian length, part one, part two.
Bytes two_parts(const Bytes& first, const Bytes& second) {
  Bytes out;
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(first.size() >> (8 * b)));
  out.insert(out.end(), first.begin(), first.end());
  out.insert(out.end(), second.begin(), second.end());
  return out;
}

Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void idx_seeds(const fs::path& dir) {
  const uint32_t count = 3, rows = 5, cols = 4;
  Bytes images, labels;
  append_u32_be(images, 0x803);
  for (uint32_t v : {count, rows, cols}) append_u32_be(images, v);
  const Bytes pixels = pattern(count * rows * cols, 1);
  images.insert(images.end(), pixels.begin(), pixels.end());
  append_u32_be(labels, 0x801);
  append_u32_be(labels, count);
  for (uint8_t label : {0, 9, 4}) labels.push_back(label);
  write(dir / "plain", two_parts(images, labels));
  write(dir / "gzip", two_parts(gzip(images), gzip(labels)));
}

void cifar_seeds(const fs::path& dir) {
  for (const auto& [mode, label_bytes] : {std::pair<uint8_t, int>{0, 1}, {1, 2}, {3, 2}}) {
    Bytes seed{mode};
    for (unsigned record = 0; record < 2; ++record) {
      for (int b = 0; b < label_bytes; ++b) seed.push_back(static_cast<uint8_t>(record * 3 + b));
      const Bytes planes = pattern(3 * 32 * 32, record);
      seed.insert(seed.end(), planes.begin(), planes.end());
    }
    write(dir / ("mode" + std::to_string(mode)), seed);
  }
}

void append_image(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

void folder_seeds(const fs::path& dir) {
  // Mode byte (folder_fuzz.cpp): bit 0 RGB, bits 1-2 target size, bit 3 .jpg.
  const int width = 6, height = 5;
  for (const auto& [name, mode, channels, jpeg] :
       {std::tuple<const char*, uint8_t, int, bool>{"png-grey", 0x00, 1, false},
        {"png-rgb-resized", 0x03, 3, false},
        {"png-rgba-as-grey", 0x04, 4, false},
        {"jpeg-rgb", 0x09, 3, true},
        {"jpeg-grey-resized", 0x0e, 1, true}}) {
    const Bytes pixels = pattern(static_cast<size_t>(width * height * channels), mode);
    Bytes seed{mode};
    if (jpeg)
      stbi_write_jpg_to_func(append_image, &seed, width, height, channels, pixels.data(), 80);
    else
      stbi_write_png_to_func(append_image, &seed, width, height, channels, pixels.data(), width * channels);
    write(dir / name, seed);
  }
}

stride::data::Manifest manifest_of(const fs::path& dir) {
  stride::data::Manifest m;
  m.dir = dir;
  m.source = "fashion-mnist";
  m.shape = {5, 4, 1};
  m.class_names = {"a", "b", "c"};
  m.splits["train"] = {{{"train-0000.h5", 2, "0123abcd"}, {"train-0001.h5", 1, "89abcdef"}}, 3};
  m.splits["test"] = {{{"test-0000.h5", 2, "00000000"}}, 2};
  m.mean = {0.25};
  m.std = {0.5};
  return m;
}

void manifest_seeds(const fs::path& dir, const fs::path& scratch) {
  stride::data::Manifest m = manifest_of(scratch);
  stride::data::save_manifest(m, scratch);
  write(dir / "grey", read(scratch / stride::data::kManifestFile));
  m.shape.channels = 3;
  m.mean = {0.1, 0.2, 0.3};
  m.std = {0.4, 0.5, 0.6};
  m.splits["val"] = {{{"val-0000.h5", 1, "ffffffff"}}, 1};
  stride::data::save_manifest(m, scratch);
  write(dir / "rgb", read(scratch / stride::data::kManifestFile));
}

void shard_seeds(const fs::path& dir, const fs::path& scratch) {
  const stride::data::ImageShape shape{5, 4, 1};
  const stride::data::ShardMeta meta{"train", "fashion-mnist", {"a", "b", "c"}};
  for (const bool gzip_on : {false, true}) {
    const fs::path path = scratch / "shard.h5";
    stride::data::ShardWriteOptions options;
    options.chunk_images = 2;
    options.gzip = gzip_on;
    stride::data::ShardWriter writer(path.string(), 3, shape, meta, options);
    const Bytes images = pattern(static_cast<size_t>(3 * shape.bytes()), 7);
    const std::vector<int32_t> labels = {2, 0, 1};
    writer.append(images.data(), labels.data(), 3);
    writer.close();
    write(dir / (gzip_on ? "gzip" : "plain"), read(path));
  }
}

void checkpoint_seeds(const fs::path& dir, const fs::path& scratch) {
  using namespace stride;
  const std::unique_ptr<Backend> backend = make_cpu_backend(1);
  ModelConfig config;
  config.spec = "conv(2,3,bias=false) bn relu flatten dense(3)";
  config.input = Shape{4, 4, 1};
  config.classes = 3;
  config.class_names = {"a", "b", "c"};
  config.mean = {0.5};
  config.std = {0.25};
  config.source = "synthetic";
  Model model = Model::from_spec(config.spec, config.input);
  model.init(*backend, 1);
  Optimizer optimizer(OptimizerConfig{}, model);
  TrainingState state;
  state.epoch = 2;
  state.global_step = 6;
  state.callbacks = {{"early_stopping", {{"wait", 1}, {"best", 0.5}}}};
  std::vector<StateEntry> best = model.state();
  const fs::path path = scratch / "checkpoint.h5";
  save_checkpoint(path.string(), config, model, nullptr, nullptr);
  write(dir / "model", read(path));
  save_checkpoint(path.string(), config, model, &optimizer, &state, &best);
  write(dir / "training", read(path));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus OUT\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path scratch = out / ".scratch";
  fs::create_directories(scratch);
  idx_seeds(out / "idx");
  cifar_seeds(out / "cifar");
  folder_seeds(out / "folder");
  manifest_seeds(out / "manifest", scratch);
  shard_seeds(out / "shard", scratch);
  checkpoint_seeds(out / "checkpoint", scratch);
  fs::remove_all(scratch);
  return 0;
}
