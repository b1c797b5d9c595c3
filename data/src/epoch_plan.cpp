// Epoch plans: block permutation, windows, within-window shuffle, and the cut
// of positions into global steps and rank slices.
#include "epoch_plan.h"

#include <algorithm>
#include <numeric>

#include "stride/common/rng.h"

namespace stride::data {
namespace {

template <typename T>
void shuffle(T* first, int64_t count, Rng& rng) {
  for (int64_t i = count; i > 1; --i) std::swap(first[i - 1], first[rng.below(static_cast<uint64_t>(i))]);
}

}  // namespace

std::vector<Block> make_blocks(const std::vector<int64_t>& shard_sizes, const std::vector<int64_t>& chunk_sizes,
                               int64_t limit) {
  std::vector<Block> blocks;
  int64_t index = 0;
  for (size_t s = 0; s < shard_sizes.size(); ++s) {
    for (int64_t row = 0; row < shard_sizes[s]; row += chunk_sizes[s]) {
      int64_t count = std::min(chunk_sizes[s], shard_sizes[s] - row);
      if (limit > 0) count = std::min(count, limit - index);
      if (count <= 0) return blocks;
      blocks.push_back(Block{static_cast<int32_t>(s), row, count, index});
      index += count;
    }
  }
  return blocks;
}

EpochPlan::EpochPlan(std::vector<Block> blocks, int64_t window_images, int64_t batch_size, int world,
                     TailPolicy tail)
    : blocks_(std::move(blocks)), window_images_(window_images), batch_size_(batch_size), world_(world),
      tail_(tail) {
  int64_t max_block = 0;
  for (const Block& b : blocks_) {
    size_ += b.count;
    max_block = std::max(max_block, b.count);
  }
  max_window_rows_ = std::max(std::min(window_images_, size_), max_block);
  const int64_t global = batch_size_ * world_;
  if (tail_ == TailPolicy::drop) {
    steps_ = size_ / global;
    extended_ = steps_ * global;
  } else {
    steps_ = (size_ + global - 1) / global;
    const int64_t last = size_ - (steps_ - 1) * global;
    extended_ = tail_ == TailPolicy::pad ? steps_ * global : size_ + std::max<int64_t>(0, world_ - last);
  }
  block_order_.resize(blocks_.size());
  window_first_.reserve(blocks_.size() + 1);
  windows_.reserve(blocks_.size() + 1);
  rows_.resize(static_cast<size_t>(size_));
  indices_.resize(static_cast<size_t>(size_));
  scratch_.resize(static_cast<size_t>(max_window_rows_));
}

void EpochPlan::build(uint64_t key, bool shuffle_order) {
  std::iota(block_order_.begin(), block_order_.end(), 0);
  if (shuffle_order) {
    Rng rng(mix_key(key, 1));
    shuffle(block_order_.data(), static_cast<int64_t>(block_order_.size()), rng);
  }
  // Greedy windows: add blocks while the window stays within window_images_.
  window_first_.clear();
  windows_.clear();
  int64_t rows = 0, position = 0;
  for (size_t i = 0; i < block_order_.size(); ++i) {
    const int64_t count = blocks_[static_cast<size_t>(block_order_[i])].count;
    if (i == 0 || rows + count > window_images_) {
      if (i > 0) windows_.push_back(Window{position - rows, position, static_cast<int64_t>(windows_.size())});
      window_first_.push_back(static_cast<int64_t>(i));
      rows = 0;
    }
    rows += count;
    position += count;
  }
  if (!block_order_.empty()) windows_.push_back(Window{position - rows, position, static_cast<int64_t>(windows_.size())});
  window_first_.push_back(static_cast<int64_t>(block_order_.size()));

  // Within each window: rows_ maps a position to a buffer row, indices_ to a split index.
  for (size_t w = 0; w < windows_.size(); ++w) {
    const Window& window = windows_[w];
    int64_t row = 0;
    for (int32_t id : window_blocks(static_cast<int64_t>(w))) {
      const Block& b = blocks_[static_cast<size_t>(id)];
      for (int64_t k = 0; k < b.count; ++k) scratch_[static_cast<size_t>(row++)] = b.first_index + k;
    }
    int32_t* local = rows_.data() + window.begin;
    std::iota(local, local + row, 0);
    if (shuffle_order) {
      Rng rng(mix_key(key, 2 + w));
      shuffle(local, row, rng);
    }
    for (int64_t j = 0; j < row; ++j) indices_[static_cast<size_t>(window.begin + j)] = scratch_[static_cast<size_t>(local[j])];
  }

  // Positions past the split wrap to the start of the order, window by window.
  for (int64_t p = size_; p < extended_;) {
    const int64_t q = (p - size_) % size_;
    const int64_t w = window_of(q);
    const int64_t end = std::min(extended_, p + windows_[static_cast<size_t>(w)].end - q);
    windows_.push_back(Window{p, end, w});
    p = end;
  }
}

int64_t EpochPlan::global_size(int64_t step) const {
  const int64_t global = batch_size_ * world_;
  return std::min(global, extended_ - step * global);
}

void EpochPlan::rank_range(int64_t step, int rank, int64_t* first, int64_t* last) const {
  const int64_t size = global_size(step);
  const int64_t each = size / world_, extra = size % world_;
  *first = step * batch_size_ * world_ + rank * each + std::min<int64_t>(rank, extra);
  *last = *first + each + (rank < extra ? 1 : 0);
}

std::span<const int32_t> EpochPlan::window_blocks(int64_t w) const {
  const auto base = static_cast<size_t>(windows_[static_cast<size_t>(w)].base);
  const int64_t first = window_first_[base], last = window_first_[base + 1];
  return {block_order_.data() + first, static_cast<size_t>(last - first)};
}

int64_t EpochPlan::window_rows(int64_t w) const {
  const Window& base = windows_[static_cast<size_t>(windows_[static_cast<size_t>(w)].base)];
  return base.end - base.begin;
}

int64_t EpochPlan::window_of(int64_t position) const {
  auto it = std::upper_bound(windows_.begin(), windows_.end(), position,
                             [](int64_t p, const Window& w) { return p < w.begin; });
  return static_cast<int64_t>(it - windows_.begin()) - 1;
}

int64_t EpochPlan::bytes_held() const {
  return static_cast<int64_t>(blocks_.capacity() * sizeof(Block) + block_order_.capacity() * sizeof(int32_t) +
                              window_first_.capacity() * sizeof(int64_t) + windows_.capacity() * sizeof(Window) +
                              rows_.capacity() * sizeof(int32_t) + indices_.capacity() * sizeof(int64_t) +
                              scratch_.capacity() * sizeof(int64_t));
}

}  // namespace stride::data
