// The loader's pipeline. One reader thread loads the windows this rank needs,
// in order, into two window slots (uint8 images + labels, read a whole HDF5
// chunk at a time). Worker threads claim steps in order, wait for the windows
// their positions fall in, augment each image into a batch slot of a ring, and
// hand the ring slot to the consumer, who frees it on its next call. A window
// slot is recycled once every one of this rank's images in it has been taken,
// so memory holds two windows and the ring whatever the split's size. Steps
// are claimed and windows loaded in position order, so the oldest unfinished
// image can always make progress: the pipeline cannot deadlock. Any thread's
// exception stops the pipeline and is rethrown by next().
#include "stride/data/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "epoch_plan.h"
#include "stride/common/error.h"
#include "stride/common/rng.h"
#include "stride/data/shard.h"

namespace stride::data {
namespace {

constexpr int kWindowSlots = 2;

uint64_t split_hash(const std::string& split) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : split) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

LoaderOptions checked(LoaderOptions o) {
  if (o.batch_size < 1) fail<ConfigError>("batch_size = {}: must be >= 1", o.batch_size);
  if (o.world < 1 || o.rank < 0 || o.rank >= o.world)
    fail<ConfigError>("rank {} of world {}: need 0 <= rank < world", o.rank, o.world);
  if (o.workers < 1 || o.workers > 256) fail<ConfigError>("workers = {}: must be in [1, 256]", o.workers);
  if (o.prefetch < 1) fail<ConfigError>("prefetch = {}: must be >= 1", o.prefetch);
  if (o.shuffle_window < 1) fail<ConfigError>("shuffle_window = {}: must be >= 1", o.shuffle_window);
  if (o.limit < 0) fail<ConfigError>("limit = {}: must be >= 0", o.limit);
  return o;
}

}  // namespace

TailPolicy parse_tail_policy(const std::string& name) {
  if (name == "keep") return TailPolicy::keep;
  if (name == "drop") return TailPolicy::drop;
  if (name == "pad") return TailPolicy::pad;
  fail<ConfigError>("tail policy '{}': expected keep, drop or pad", name);
}

// Private to this file, so its state is plain members the Loader reads directly.
class Loader::Impl {
 public:
  Impl(const Manifest& manifest, LoaderOptions options);
  ~Impl() { stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void start_epoch(int64_t epoch);
  const Batch* next();
  void skip(int64_t steps);
  int64_t samples_per_epoch() const;
  int64_t bytes_held() const;

  struct WindowSlot {
    std::vector<uint8_t> images;
    std::vector<int32_t> labels;
    int64_t window = -1;  // -1: free
  };
  struct BatchSlot {
    std::vector<float> images;
    std::vector<int32_t> labels;
    std::vector<int64_t> indices;
    Batch batch{};
    int64_t step = -1;  // -1: free
    bool ready = false;
  };

  static std::vector<ShardReader> open_shards(const Manifest& manifest, const LoaderOptions& options);
  static std::vector<Block> blocks_of(const std::vector<ShardReader>& shards, int64_t limit);

  void launch();
  void stop() noexcept;
  void fail_pipeline(std::exception_ptr error);
  void reader_loop();
  void read_window(int64_t window, WindowSlot& slot);
  void worker_loop(int worker);
  bool fill_batch(int64_t step, BatchSlot& slot, float* scratch);

  // Fixed at construction (declaration order is initialisation order).
  const LoaderOptions options_;
  const ImageShape shape_;
  const std::string manifest_path_;
  const int64_t num_classes_;
  const std::vector<ShardReader> shards_;
  EpochPlan plan_;
  const Augmenter augmenter_;
  int64_t epoch_ = -1;
  double wait_seconds_ = 0;

  // The pipeline, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable window_loaded_, window_freed_, batch_freed_, batch_ready_;
  std::vector<WindowSlot> window_slots_;
  std::vector<int> slot_of_window_;      // per window: its slot, -1 while not loaded
  std::vector<int64_t> window_pending_;  // per window: this rank's images not yet taken
  std::vector<BatchSlot> batch_slots_;   // ring indexed by (step - first_step_) % size
  std::vector<std::vector<float>> scratch_;
  int64_t first_step_ = 0, next_claim_ = 0, next_consume_ = 0;
  int held_ = -1;  // batch slot the consumer holds
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

std::vector<ShardReader> Loader::Impl::open_shards(const Manifest& manifest, const LoaderOptions& options) {
  const SplitEntry& split = manifest.split(options.split);
  if (split.count == 0) fail<DataError>("{}: split '{}' has no images", manifest.path().string(), options.split);
  if (options.limit > split.count)
    fail<DataError>("{}: limit {} exceeds the {} images of split '{}'", manifest.path().string(), options.limit,
                    split.count, options.split);
  std::vector<ShardReader> shards;
  int64_t images = 0;
  for (const ShardEntry& entry : split.shards) {
    if (options.limit > 0 && images >= options.limit) break;  // shards past the limit are never read
    const std::string path = manifest.shard_path(entry).string();
    if (options.verify_checksums) {
      const std::string actual = crc32_file(path);
      if (actual != entry.checksum)
        fail<DataError>("{}: checksum {} does not match {} in {} (corrupt or replaced shard)", path, actual,
                        entry.checksum, manifest.path().string());
    }
    ShardReader& shard = shards.emplace_back(path, manifest.shape);
    if (shard.size() != entry.count)
      fail<DataError>("{}: holds {} images, {} says {}", path, shard.size(), manifest.path().string(), entry.count);
    images += entry.count;
  }
  return shards;
}

std::vector<Block> Loader::Impl::blocks_of(const std::vector<ShardReader>& shards, int64_t limit) {
  std::vector<int64_t> sizes, chunks;
  for (const ShardReader& s : shards) {
    sizes.push_back(s.size());
    chunks.push_back(s.chunk_images());
  }
  return make_blocks(sizes, chunks, limit);
}

Loader::Impl::Impl(const Manifest& manifest, LoaderOptions options)
    : options_(checked(std::move(options))),
      shape_(manifest.shape),
      manifest_path_(manifest.path().string()),
      num_classes_(manifest.num_classes()),
      shards_(open_shards(manifest, options_)),
      plan_(blocks_of(shards_, options_.limit), options_.shuffle_window, options_.batch_size, options_.world,
            options_.tail),
      augmenter_(options_.augmentation, options_.augment, manifest.shape, manifest.mean, manifest.std, options_.seed) {
  if (plan_.steps() == 0)
    fail<DataError>("{}: split '{}' has {} images, fewer than one global batch of {} (tail = drop)", manifest_path_,
                    options_.split, plan_.size(), options_.batch_size * options_.world);
  const int64_t bytes = shape_.bytes();
  window_slots_.resize(kWindowSlots);
  for (WindowSlot& slot : window_slots_) {
    slot.images.resize(static_cast<size_t>(plan_.max_window_rows() * bytes));
    slot.labels.resize(static_cast<size_t>(plan_.max_window_rows()));
  }
  batch_slots_.resize(static_cast<size_t>(std::max(options_.prefetch, options_.workers) + 1));
  for (BatchSlot& slot : batch_slots_) {
    slot.images.resize(static_cast<size_t>(options_.batch_size * bytes));
    slot.labels.resize(static_cast<size_t>(options_.batch_size));
    slot.indices.resize(static_cast<size_t>(options_.batch_size));
  }
  scratch_.assign(static_cast<size_t>(options_.workers), std::vector<float>(static_cast<size_t>(bytes)));
}

void Loader::Impl::start_epoch(int64_t epoch) {
  stop();
  epoch_ = epoch;
  const uint64_t key =
      mix_key(mix_key(mix_key(options_.seed, 0x0e0c), split_hash(options_.split)), static_cast<uint64_t>(epoch));
  plan_.build(key, options_.shuffle);
  wait_seconds_ = 0;
  first_step_ = 0;
  launch();
}

void Loader::Impl::skip(int64_t steps) {
  if (epoch_ < 0) fail<Error>("Loader::skip() before start_epoch()");
  if (steps < 0) fail<Error>("Loader::skip({}): steps must be >= 0", steps);
  stop();
  first_step_ = std::min(plan_.steps(), next_consume_ + steps);
  launch();
}

void Loader::Impl::launch() {
  next_claim_ = next_consume_ = first_step_;
  held_ = -1;
  stop_ = false;
  error_ = nullptr;
  for (BatchSlot& slot : batch_slots_) slot.step = -1, slot.ready = false;
  for (WindowSlot& slot : window_slots_) slot.window = -1;
  const auto windows = plan_.windows().size();
  slot_of_window_.assign(windows, -1);
  window_pending_.assign(windows, 0);
  for (int64_t step = first_step_; step < plan_.steps(); ++step) {
    int64_t first = 0, last = 0;
    plan_.rank_range(step, options_.rank, &first, &last);
    for (int64_t p = first; p < last;) {
      const int64_t w = plan_.window_of(p);
      const int64_t end = std::min(last, plan_.windows()[static_cast<size_t>(w)].end);
      window_pending_[static_cast<size_t>(w)] += end - p;
      p = end;
    }
  }
  if (first_step_ >= plan_.steps()) return;
  threads_.emplace_back([this] { reader_loop(); });
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

void Loader::Impl::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  window_loaded_.notify_all();
  window_freed_.notify_all();
  batch_freed_.notify_all();
  batch_ready_.notify_all();
  for (std::thread& thread : threads_) {
    try {
      thread.join();
    } catch (...) {
      // join only throws for a thread that is not joinable; nothing is left to do.
    }
  }
  threads_.clear();
}

void Loader::Impl::fail_pipeline(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = error;
    stop_ = true;
  }
  window_loaded_.notify_all();
  window_freed_.notify_all();
  batch_freed_.notify_all();
  batch_ready_.notify_all();
}

void Loader::Impl::reader_loop() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // HDF5's error printing is per thread; errors surface as exceptions
  try {
    for (size_t w = 0; w < window_pending_.size(); ++w) {
      WindowSlot* slot = nullptr;
      {
        std::unique_lock lock(mutex_);
        if (window_pending_[w] == 0) continue;  // none of this rank's images
        window_freed_.wait(lock, [&] {
          for (WindowSlot& candidate : window_slots_)
            if (candidate.window < 0) slot = &candidate;
          return stop_ || slot != nullptr;
        });
        if (stop_) return;
        slot->window = static_cast<int64_t>(w);
      }
      read_window(static_cast<int64_t>(w), *slot);
      {
        std::lock_guard lock(mutex_);
        slot_of_window_[w] = static_cast<int>(slot - window_slots_.data());
      }
      window_loaded_.notify_all();
    }
  } catch (...) {
    fail_pipeline(std::current_exception());
  }
}

// Reads every block of the window's base into the slot, one HDF5 chunk per read.
void Loader::Impl::read_window(int64_t window, WindowSlot& slot) {
  const int64_t bytes = shape_.bytes();
  int64_t row = 0;
  for (int32_t id : plan_.window_blocks(window)) {
    const Block& block = plan_.block(id);
    const ShardReader& shard = shards_[static_cast<size_t>(block.shard)];
    int32_t* labels = slot.labels.data() + row;
    shard.read(block.first_row, block.count, slot.images.data() + row * bytes, labels);
    for (int64_t k = 0; k < block.count; ++k)
      if (labels[k] < 0 || labels[k] >= num_classes_)
        fail<DataError>("{}: label {} of image {} is out of range [0, {})", shard.path(), labels[k],
                        block.first_row + k, num_classes_);
    row += block.count;
  }
}

void Loader::Impl::worker_loop(int worker) {
  try {
    const auto ring = static_cast<int64_t>(batch_slots_.size());
    while (true) {
      int64_t step = 0;
      BatchSlot* slot = nullptr;
      {
        std::unique_lock lock(mutex_);
        batch_freed_.wait(lock, [&] {
          return stop_ || next_claim_ >= plan_.steps() ||
                 batch_slots_[static_cast<size_t>((next_claim_ - first_step_) % ring)].step < 0;
        });
        if (stop_ || next_claim_ >= plan_.steps()) return;
        step = next_claim_++;
        slot = &batch_slots_[static_cast<size_t>((step - first_step_) % ring)];
        slot->step = step;
        slot->ready = false;
      }
      if (!fill_batch(step, *slot, scratch_[static_cast<size_t>(worker)].data())) return;
      {
        std::lock_guard lock(mutex_);
        slot->ready = true;
      }
      batch_ready_.notify_all();
    }
  } catch (...) {
    fail_pipeline(std::current_exception());
  }
}

bool Loader::Impl::fill_batch(int64_t step, BatchSlot& slot, float* scratch) {
  int64_t first = 0, last = 0;
  plan_.rank_range(step, options_.rank, &first, &last);
  const int64_t bytes = shape_.bytes();
  for (int64_t p = first; p < last;) {
    const int64_t w = plan_.window_of(p);
    const int64_t end = std::min(last, plan_.windows()[static_cast<size_t>(w)].end);
    const WindowSlot* window = nullptr;
    {
      std::unique_lock lock(mutex_);
      window_loaded_.wait(lock, [&] { return stop_ || slot_of_window_[static_cast<size_t>(w)] >= 0; });
      if (stop_) return false;
      window = &window_slots_[static_cast<size_t>(slot_of_window_[static_cast<size_t>(w)])];
    }
    for (int64_t q = p; q < end; ++q) {
      const Placement at = plan_.place(q);
      const int64_t out = q - first;
      augmenter_.apply(window->images.data() + at.row * bytes, epoch_, at.index, scratch,
                       slot.images.data() + out * bytes);
      slot.labels[static_cast<size_t>(out)] = window->labels[static_cast<size_t>(at.row)];
      slot.indices[static_cast<size_t>(out)] = at.index;
    }
    bool freed = false;
    {
      std::lock_guard lock(mutex_);
      int64_t& pending = window_pending_[static_cast<size_t>(w)];
      pending -= end - p;
      if (pending == 0) {
        window_slots_[static_cast<size_t>(slot_of_window_[static_cast<size_t>(w)])].window = -1;
        slot_of_window_[static_cast<size_t>(w)] = -1;
        freed = true;
      }
    }
    if (freed) window_freed_.notify_all();
    p = end;
  }
  slot.batch =
      Batch{last - first, plan_.global_size(step), step, slot.images.data(), slot.labels.data(), slot.indices.data()};
  return true;
}

const Batch* Loader::Impl::next() {
  if (epoch_ < 0) fail<Error>("Loader::next() before start_epoch()");
  std::unique_lock lock(mutex_);
  if (held_ >= 0) {
    batch_slots_[static_cast<size_t>(held_)].step = -1;
    batch_slots_[static_cast<size_t>(held_)].ready = false;
    held_ = -1;
    batch_freed_.notify_all();
  }
  if (error_) std::rethrow_exception(error_);
  if (next_consume_ >= plan_.steps()) return nullptr;
  const auto index = static_cast<size_t>((next_consume_ - first_step_) % static_cast<int64_t>(batch_slots_.size()));
  BatchSlot& slot = batch_slots_[index];
  const auto started = std::chrono::steady_clock::now();
  batch_ready_.wait(lock, [&] { return error_ || (slot.ready && slot.step == next_consume_); });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (error_) std::rethrow_exception(error_);
  held_ = static_cast<int>(index);
  ++next_consume_;
  return &slot.batch;
}

int64_t Loader::Impl::samples_per_epoch() const {
  int64_t total = 0;
  for (int64_t step = 0; step < plan_.steps(); ++step) {
    int64_t first = 0, last = 0;
    plan_.rank_range(step, options_.rank, &first, &last);
    total += last - first;
  }
  return total;
}

int64_t Loader::Impl::bytes_held() const {
  int64_t bytes = plan_.bytes_held();
  for (const WindowSlot& s : window_slots_)
    bytes += static_cast<int64_t>(s.images.capacity() + s.labels.capacity() * sizeof(int32_t));
  for (const BatchSlot& s : batch_slots_)
    bytes += static_cast<int64_t>(s.images.capacity() * sizeof(float) + s.labels.capacity() * sizeof(int32_t) +
                                  s.indices.capacity() * sizeof(int64_t));
  for (const auto& s : scratch_) bytes += static_cast<int64_t>(s.capacity() * sizeof(float));
  return bytes + static_cast<int64_t>((slot_of_window_.capacity() * sizeof(int)) +
                                      window_pending_.capacity() * sizeof(int64_t));
}

Loader::Loader(const Manifest& manifest, LoaderOptions options)
    : impl_(std::make_unique<Impl>(manifest, std::move(options))) {}
Loader::~Loader() = default;
int64_t Loader::steps_per_epoch() const { return impl_->plan_.steps(); }
int64_t Loader::samples_per_epoch() const { return impl_->samples_per_epoch(); }
int64_t Loader::split_size() const { return impl_->plan_.size(); }
ImageShape Loader::shape() const { return impl_->shape_; }
void Loader::start_epoch(int64_t epoch) { impl_->start_epoch(epoch); }
const Batch* Loader::next() { return impl_->next(); }
double Loader::wait_seconds() const { return impl_->wait_seconds_; }
void Loader::skip(int64_t steps) { impl_->skip(steps); }
int64_t Loader::bytes_held() const { return impl_->bytes_held(); }

}  // namespace stride::data
