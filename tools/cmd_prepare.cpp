// `stride prepare SOURCE --from PATH --out DIR`: import a dataset into HDF5
// shards + manifest.json through data::prepare_dataset, then print what was
// written. The output appears only once complete (the library stages it).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "cli.h"
#include "stride/common/error.h"
#include "stride/common/memory.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/data/prepare.h"

namespace stride::tools {

namespace {

// "32x32" -> height 32, width 32.
void parse_size(const std::string& text, data::PrepareOptions& o) {
  const auto parts = split(to_lower(text), 'x');
  if (parts.size() != 2) fail<ConfigError>("--size '{}': expected HxW, e.g. 32x32", text);
  o.height = parse_int(parts[0], "--size");
  o.width = parse_int(parts[1], "--size");
  if (o.height < 1 || o.width < 1) fail<ConfigError>("--size '{}': both sides must be >= 1", text);
  // The importer holds a block of images (a chunk, or a shard if smaller) at once.
  const std::string what = fmt::format("--size {}x{} ({} channels)", o.height, o.width, o.channels);
  const int64_t image = checked_product({o.height, o.width, o.channels}, what);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(o.chunk_size, o.shard_size));
  require_memory(checked_mul(block, image, what), fmt::format("{}: a block of {} images", what, block));
}

}  // namespace

int run_prepare(const Args& args) {
  CommandLine command;
  command.usage = "stride prepare SOURCE --from PATH [--out DIR] [options]";
  command.summary =
      "Import SOURCE (fashion-mnist, mnist, cifar10, cifar100 or folder) from PATH into HDF5 shards and\n"
      "manifest.json in DIR (default data/SOURCE). A stratified share of each class of the training set\n"
      "becomes the validation split (and, for folder, the test split). An existing dataset at DIR is\n"
      "replaced only once the new one is complete.";
  data::PrepareOptions o;
  std::string from, out, size, classes;
  int64_t seed = 0;
  // clang-format off
  command.options.add_options()
      ("from", po::value(&from)->required(), "the source: a directory of IDX / CIFAR files, or of class folders")
      ("out", po::value(&out), "output directory (default data/SOURCE)")
      ("shard-size", po::value(&o.shard_size)->default_value(10000), "images per shard file")
      ("val-fraction", po::value(&o.val_fraction)->default_value(0.1), "share of each training class held out for validation")
      ("test-fraction", po::value(&o.test_fraction)->default_value(0.1), "folder only: share of each class held out for test")
      ("compression", po::value(&o.compression)->default_value("none"), "none | gzip (with the shuffle filter)")
      ("chunk-size", po::value(&o.chunk_size)->default_value(256), "images per HDF5 chunk")
      ("seed", po::value(&seed)->default_value(0), "seed of the stratified split")
      ("label", po::value(&o.label)->default_value("fine"), "cifar100: fine (100 classes) | coarse (20)")
      ("size", po::value(&size), "folder: resize every image to HxW (default: the first image's size)")
      ("channels", po::value(&o.channels)->default_value(3), "folder: 1 (grey) | 3 (RGB)")
      ("classes", po::value(&classes), "keep only these classes, comma-separated names or indices, renumbered in this order");
  // clang-format on
  command.hidden.add_options()("source", po::value(&o.source)->required(), "source kind");
  command.positional.add("source", 1);
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (seed < 0) fail<ConfigError>("--seed {}: must be >= 0", seed);
  o.seed = static_cast<uint64_t>(seed);
  if (!classes.empty()) o.classes = split(classes, ',', true);
  o.from = from;
  o.out = out.empty() ? std::filesystem::path("data") / o.source : std::filesystem::path(out);
  if (!size.empty()) parse_size(size, o);

  const data::PrepareResult result = data::prepare_dataset(o);
  const data::Manifest& m = result.manifest;
  Table table({"split", "images", "shards"});
  for (const char* name : {"train", "val", "test"}) {
    if (!m.has_split(name)) continue;
    const data::SplitEntry& entry = m.split(name);
    table.add_row({std::string(name), entry.count, static_cast<int64_t>(entry.shards.size())});
  }
  fmt::print("prepared {} into {}\n", m.source, o.out.string());
  fmt::print("{}", table.to_text());
  fmt::print("images {}x{}x{}, {} classes, mean {:.4f}, std {:.4f}, {:.1f} s\n", m.shape.height, m.shape.width,
             m.shape.channels, m.num_classes(), fmt::join(m.mean, "/"), fmt::join(m.std, "/"), result.seconds);
  return 0;
}

}  // namespace stride::tools
