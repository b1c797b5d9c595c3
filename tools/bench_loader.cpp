// `stride bench loader`: images/s the streaming loader delivers from a prepared
// dataset, per worker count, with the full training augmentation chain (or
// none). The clock runs from start_epoch() to the last batch taken, so
// opening the epoch and filling the pipeline are part of the figure; the
// consumer only touches each batch, so the loader is the bottleneck.
#include <fmt/format.h>

#include <chrono>

#include "bench.h"
#include "cli.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/data/loader.h"

namespace stride::tools {

namespace {

// The chain a CIFAR-style training run uses.
data::AugmentOptions full_augmentation() {
  data::AugmentOptions a;
  a.crop_padding = 4;
  a.pad_mode = "reflect";
  a.hflip = true;
  a.rotate_deg = 10;
  a.zoom = 0.1f;
  a.translate = 0.1f;
  a.cutout = 0.25f;
  a.normalize = true;
  return a;
}

struct Measurement {
  int64_t images = 0, steps = 0;
  double seconds = 0, wait_seconds = 0;
  int64_t bytes_held = 0;
};

// Runs `epochs` whole epochs, or `steps` steps (continuing into further epochs) when steps > 0.
Measurement measure(const data::Manifest& manifest, const data::LoaderOptions& options, int64_t epochs, int64_t steps) {
  data::Loader loader(manifest, options);
  Measurement m;
  m.bytes_held = loader.bytes_held();
  float checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; steps > 0 ? m.steps < steps : epoch < epochs; ++epoch) {
    loader.start_epoch(epoch);
    while (const data::Batch* batch = loader.next()) {
      checksum += batch->images[0];  // touch the batch as a consumer would
      m.images += batch->size;
      if (++m.steps == steps) break;
    }
    m.wait_seconds += loader.wait_seconds();
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (checksum != checksum) fmt::print(stderr, "note: non-finite pixels in the batches\n");
  return m;
}

}  // namespace

int bench_loader(const Args& args) {
  CommandLine command;
  command.usage =
      "stride bench loader --data DIR [--workers 1,2] [--batch 32] [--epochs 1 | --steps N] [--augment full|none] "
      "[--format table|json]";
  command.summary =
      "Images/s the streaming loader delivers from DIR's train split, per worker count. 'full' applies the\n"
      "whole training chain: crop after 4-pixel reflect padding, horizontal flip, rotation 10 degrees,\n"
      "zoom 0.1, translation 0.1, cutout 0.25, normalisation; 'none' only normalises.";
  std::string data_dir, workers_list, augment, format, split_name;
  int64_t batch = 32, epochs = 1, steps = 0, prefetch = 4;
  uint64_t seed = 0;
  // clang-format off
  command.options.add_options()
      ("data", po::value(&data_dir)->default_value("data/fashion-mnist"), "prepared dataset directory")
      ("split", po::value(&split_name)->default_value("train"), "split to stream")
      ("workers", po::value(&workers_list)->default_value("1,2"), "comma-separated worker thread counts")
      ("batch", po::value(&batch)->default_value(32), "images per batch")
      ("epochs", po::value(&epochs)->default_value(1), "whole epochs to time")
      ("steps", po::value(&steps)->default_value(0), "time this many batches instead of whole epochs")
      ("prefetch", po::value(&prefetch)->default_value(4), "batches queued ahead")
      ("augment", po::value(&augment)->default_value("full"), "full | none")
      ("seed", po::value(&seed)->default_value(0), "order and augmentation seed")
      ("format", po::value(&format)->default_value("table"), "table | csv | json");
  // clang-format on
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (augment != "full" && augment != "none") fail<ConfigError>("--augment '{}': expected full or none", augment);
  if (epochs < 1) fail<ConfigError>("--epochs {}: must be >= 1", epochs);
  if (steps < 0) fail<ConfigError>("--steps {}: must be >= 0", steps);
  const TableFormat table_format = parse_table_format(format);

  const data::Manifest manifest = data::load_manifest(data_dir);
  data::LoaderOptions options;
  options.split = split_name;
  options.batch_size = batch;
  options.augment = augment == "full";
  options.augmentation = full_augmentation();
  options.seed = seed;
  options.prefetch = static_cast<int>(prefetch);

  Table table({"dataset", "shape", "augment", "batch", "workers", "images", "seconds", "images_per_s", "wait_fraction",
               "buffer_mib"});
  table.set_precision("seconds", 2);
  table.set_precision("images_per_s", 0);
  table.set_precision("wait_fraction", 2);
  table.set_precision("buffer_mib", 1);
  const std::string shape =
      fmt::format("{}x{}x{}", manifest.shape.height, manifest.shape.width, manifest.shape.channels);
  for (const std::string& w : split(workers_list, ',', true)) {
    options.workers = static_cast<int>(parse_int(w, "--workers"));
    const Measurement m = measure(manifest, options, epochs, steps);
    table.add_row({manifest.source, shape, augment, batch, int64_t{options.workers}, m.images, m.seconds,
                   static_cast<double>(m.images) / m.seconds, m.wait_seconds / m.seconds,
                   static_cast<double>(m.bytes_held) / (1 << 20)});
  }
  fmt::print("{}", table.render(table_format));
  return 0;
}

}  // namespace stride::tools
