// The preparer: source -> stratified splits -> shards + manifest, written into a
// hidden staging directory beside the output and renamed into place last. An
// existing dataset at the output is moved aside only once the new one is
// complete, then removed; a directory that is not a dataset is never replaced.
#include "stride/data/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include "stride/common/error.h"
#include "stride/common/handle.h"
#include "stride/common/rng.h"
#include "stride/common/strings.h"
#include "stride/data/importers.h"
#include "stride/data/shard.h"

namespace stride::data {
namespace {

namespace fs = std::filesystem;

void check_options(const PrepareOptions& o) {
  if (o.shard_size < 1) fail<ConfigError>("--shard-size {}: must be >= 1", o.shard_size);
  if (o.chunk_size < 1) fail<ConfigError>("--chunk-size {}: must be >= 1", o.chunk_size);
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) fail<ConfigError>("--val-fraction {}: must be in [0, 1)", o.val_fraction);
  if (!(o.test_fraction >= 0 && o.test_fraction < 1))
    fail<ConfigError>("--test-fraction {}: must be in [0, 1)", o.test_fraction);
  if (o.source == "folder" && o.val_fraction + o.test_fraction >= 1)
    fail<ConfigError>("--val-fraction {} + --test-fraction {} leave no training images", o.val_fraction,
                      o.test_fraction);
  if (o.compression != "none" && o.compression != "gzip")
    fail<ConfigError>("--compression '{}': expected none or gzip", o.compression);
  if (o.label != "fine" && o.label != "coarse") fail<ConfigError>("--label '{}': expected fine or coarse", o.label);
  if (o.out.empty()) fail<ConfigError>("--out is required");
}

// The images of some classes of a source, relabelled 0.. in the order chosen.
class ClassSubset final : public ImageSource {
 public:
  ClassSubset(std::unique_ptr<ImageSource> base, const std::vector<int32_t>& classes) : base_(std::move(base)) {
    std::vector<int32_t> relabel(256, -1);
    for (size_t k = 0; k < classes.size(); ++k) relabel.at(static_cast<size_t>(classes[k])) = static_cast<int32_t>(k);
    for (int64_t i = 0; i < base_->size(); ++i) {
      const int32_t label = base_->label(i);
      const int32_t mapped = label >= 0 && label < 256 ? relabel[static_cast<size_t>(label)] : -1;
      if (mapped < 0) continue;
      indices_.push_back(i);
      labels_.push_back(mapped);
    }
  }
  ImageShape shape() const override { return base_->shape(); }
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int32_t label(int64_t index) const override { return labels_[static_cast<size_t>(index)]; }
  void read(int64_t index, uint8_t* out) const override { base_->read(indices_[static_cast<size_t>(index)], out); }

 private:
  std::unique_ptr<ImageSource> base_;
  std::vector<int64_t> indices_;
  std::vector<int32_t> labels_;
};

// Class indices for --classes entries given as names or indices.
std::vector<int32_t> chosen_classes(const std::vector<std::string>& wanted, const std::vector<std::string>& names) {
  std::vector<int32_t> out;
  for (const std::string& w : wanted) {
    int32_t index = -1;
    for (size_t k = 0; k < names.size(); ++k)
      if (names[k] == w) index = static_cast<int32_t>(k);
    if (index < 0 && !w.empty() && w.find_first_not_of("0123456789") == std::string::npos)
      index = static_cast<int32_t>(parse_int(w, "--classes"));
    if (index < 0 || index >= static_cast<int32_t>(names.size()))
      fail<ConfigError>("--classes: '{}' is not one of the {} classes ({})", w, names.size(), join(names, ", "));
    if (std::find(out.begin(), out.end(), index) != out.end())
      fail<ConfigError>("--classes: '{}' is given twice", w);
    out.push_back(index);
  }
  return out;
}

ImportedSource keep_classes(ImportedSource imported, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return imported;
  const std::vector<int32_t> classes = chosen_classes(wanted, imported.class_names);
  std::vector<std::string> names;
  for (int32_t k : classes) names.push_back(imported.class_names[static_cast<size_t>(k)]);
  imported.class_names = std::move(names);
  imported.train = std::make_unique<ClassSubset>(std::move(imported.train), classes);
  if (imported.test) imported.test = std::make_unique<ClassSubset>(std::move(imported.test), classes);
  return imported;
}

ImportedSource import_all(const PrepareOptions& o) {
  if (o.source == "fashion-mnist" || o.source == "mnist") return import_mnist(o.from, o.source == "fashion-mnist");
  if (o.source == "cifar10") return import_cifar10(o.from);
  if (o.source == "cifar100") return import_cifar100(o.from, o.label == "coarse");
  if (o.source == "folder") return import_folder(o.from, FolderOptions{o.height, o.width, o.channels});
  fail<ConfigError>("unknown source '{}' (expected fashion-mnist, mnist, cifar10, cifar100 or folder)", o.source);
}

ImportedSource import_source(const PrepareOptions& o) { return keep_classes(import_all(o), o.classes); }

// The output may be absent, empty, or a previous dataset; anything else is kept.
void check_replaceable(const fs::path& out) {
  if (!fs::exists(out)) return;
  if (!fs::is_directory(out)) fail<DataError>("{}: exists and is not a directory", out.string());
  if (fs::is_empty(out) || fs::exists(out / kManifestFile)) return;
  fail<DataError>("{}: exists and is not a prepared dataset (no {}); refusing to replace it", out.string(),
                  kManifestFile);
}

fs::path sibling(const fs::path& out, const std::string& tag) {
  static std::atomic<int> counter{0};
  const fs::path absolute = fs::absolute(out).lexically_normal();
  const fs::path base = absolute.has_filename() ? absolute : absolute.parent_path();
  return base.parent_path() / fmt::format(".{}.{}-{}-{}", base.filename().string(), tag, getpid(), counter++);
}

struct ChannelStats {
  std::vector<uint64_t> sum, sum_squares;
  int64_t pixels = 0;  // per channel
};

// Writes the images `indices` of `source` as shards `split`-NNNNN.h5 in `dir`.
SplitEntry write_split(const ImageSource& source, const std::vector<int64_t>& indices, const std::string& split,
                       const ImportedSource& imported, const PrepareOptions& o, const fs::path& dir,
                       ChannelStats* stats) {
  SplitEntry entry;
  const ImageShape shape = source.shape();
  const int64_t bytes = shape.bytes();
  const int64_t block = std::min<int64_t>(o.chunk_size, o.shard_size);
  std::vector<uint8_t> images(static_cast<size_t>(block * bytes));
  std::vector<int32_t> labels(static_cast<size_t>(block));
  const ShardMeta meta{split, imported.source, imported.class_names};
  const ShardWriteOptions write_options{o.chunk_size, o.compression == "gzip"};
  const auto total = static_cast<int64_t>(indices.size());
  for (int64_t first = 0, number = 0; first < total; first += o.shard_size, ++number) {
    const int64_t count = std::min(o.shard_size, total - first);
    const std::string file = fmt::format("{}-{:05d}.h5", split, number);
    ShardWriter writer((dir / file).string(), count, shape, meta, write_options);
    for (int64_t done = 0; done < count;) {
      const int64_t n = std::min(block, count - done);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t index = indices[static_cast<size_t>(first + done + i)];
        uint8_t* image = images.data() + i * bytes;
        source.read(index, image);
        labels[static_cast<size_t>(i)] = source.label(index);
        if (stats) {
          for (int64_t p = 0; p < bytes; ++p) {
            const uint64_t v = image[p];
            stats->sum[static_cast<size_t>(p % shape.channels)] += v;
            stats->sum_squares[static_cast<size_t>(p % shape.channels)] += v * v;
          }
        }
      }
      writer.append(images.data(), labels.data(), n);
      done += n;
    }
    writer.close();
    entry.shards.push_back({file, count, crc32_file(dir / file)});
    entry.count += count;
  }
  if (stats) stats->pixels += total * shape.height * shape.width;
  return entry;
}

std::vector<int64_t> all_indices(int64_t count) {
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = i;
  return indices;
}

void move_into_place(const fs::path& staging, const fs::path& out) {
  if (!fs::exists(out)) {
    fs::rename(staging, out);
    return;
  }
  const fs::path old = sibling(out, "old");
  fs::rename(out, old);
  try {
    fs::rename(staging, out);
  } catch (...) {
    fs::rename(old, out);
    throw;
  }
  std::error_code ignored;
  fs::remove_all(old, ignored);
}

}  // namespace

SplitIndices stratified_split(std::span<const int32_t> labels, int64_t num_classes, double val_fraction,
                              double test_fraction, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < labels.size(); ++i) by_class.at(static_cast<size_t>(labels[i])).push_back(static_cast<int64_t>(i));
  SplitIndices out;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& members = by_class[c];
    Rng rng(mix_key(seed, 0x5eed5117), c);
    for (size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[rng.below(i)]);
    const auto n = static_cast<int64_t>(members.size());
    const int64_t n_test = std::min<int64_t>(n, std::llround(static_cast<double>(n) * test_fraction));
    const int64_t n_val = std::min<int64_t>(n - n_test, std::llround(static_cast<double>(n) * val_fraction));
    out.test.insert(out.test.end(), members.begin(), members.begin() + n_test);
    out.val.insert(out.val.end(), members.begin() + n_test, members.begin() + n_test + n_val);
    out.train.insert(out.train.end(), members.begin() + n_test + n_val, members.end());
  }
  for (auto* split : {&out.train, &out.val, &out.test}) std::sort(split->begin(), split->end());
  return out;
}

PrepareResult prepare_dataset(const PrepareOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  check_options(o);
  check_replaceable(o.out);
  const ImportedSource imported = import_source(o);
  const ImageSource& train_source = *imported.train;

  std::vector<int32_t> labels(static_cast<size_t>(train_source.size()));
  for (int64_t i = 0; i < train_source.size(); ++i) labels[static_cast<size_t>(i)] = train_source.label(i);
  const double test_fraction = imported.test ? 0.0 : o.test_fraction;
  const SplitIndices split = stratified_split(labels, static_cast<int64_t>(imported.class_names.size()),
                                              o.val_fraction, test_fraction, o.seed);
  if (split.train.empty()) fail<DataError>("{}: no training images left after the split", o.from.string());

  const fs::path staging = sibling(o.out, "staging");
  fs::create_directories(staging);
  ScopeGuard cleanup([&] {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
  });

  Manifest manifest;
  manifest.source = imported.source;
  manifest.shape = train_source.shape();
  manifest.class_names = imported.class_names;
  const auto channels = static_cast<size_t>(manifest.shape.channels);
  ChannelStats stats{std::vector<uint64_t>(channels), std::vector<uint64_t>(channels), 0};
  manifest.splits["train"] = write_split(train_source, split.train, "train", imported, o, staging, &stats);
  if (!split.val.empty())
    manifest.splits["val"] = write_split(train_source, split.val, "val", imported, o, staging, nullptr);
  if (imported.test) {
    manifest.splits["test"] =
        write_split(*imported.test, all_indices(imported.test->size()), "test", imported, o, staging, nullptr);
  } else if (!split.test.empty()) {
    manifest.splits["test"] = write_split(train_source, split.test, "test", imported, o, staging, nullptr);
  }
  for (size_t c = 0; c < channels; ++c) {
    const double n = static_cast<double>(stats.pixels);
    const double mean = static_cast<double>(stats.sum[c]) / n / 255.0;
    const double mean_square = static_cast<double>(stats.sum_squares[c]) / n / (255.0 * 255.0);
    manifest.mean.push_back(mean);
    manifest.std.push_back(std::sqrt(std::max(0.0, mean_square - mean * mean)));
  }
  save_manifest(manifest, staging);

  check_replaceable(o.out);
  move_into_place(staging, o.out);
  cleanup.dismiss();
  manifest.dir = o.out;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  return PrepareResult{std::move(manifest), elapsed.count()};
}

}  // namespace stride::data
