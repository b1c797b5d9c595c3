// Epoch plans: block permutation, windows, within-window shuffle, and the cut
// of positions into global steps and rank slices.
#include "epoch_plan.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "stride/common/rng.h"

namespace stride::data {
namespace {

template <typename T>
void shuffle(T* first, int64_t count, Rng& rng) {
  for (int64_t i = count; i > 1; --i) std::swap(first[i - 1], first[rng.below(static_cast<uint64_t>(i))]);
}

}  // namespace

// A 4-round Feistel network over the smallest even bit count covering n is a
// keyed permutation of [0, 4^half); walking it from x until the value lands
// below n again restricts it to a permutation of [0, n) (cycle walking). The
// domain is under 4n, so a walk takes fewer than four passes on average.
int64_t permute_index(int64_t x, int64_t n, uint64_t key) {
  int half = 1;
  while ((int64_t{1} << (2 * half)) < n) ++half;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  auto value = static_cast<uint64_t>(x);
  do {
    uint64_t left = value >> half, right = value & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      const uint64_t mixed = left ^ (mix_key(key + round, right) & mask);
      left = right;
      right = mixed;
    }
    value = (left << half) | right;
  } while (value >= static_cast<uint64_t>(n));
  return static_cast<int64_t>(value);
}

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

EpochPlan::EpochPlan(std::vector<Block> blocks, int64_t window_images, int64_t batch_size, int world, TailPolicy tail)
    : blocks_(std::move(blocks)), window_images_(window_images), batch_size_(batch_size), world_(world), tail_(tail) {
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
  block_row_.resize(blocks_.size());
  window_first_.reserve(blocks_.size() + 1);
  windows_.reserve(blocks_.size() + 2);  // base windows and a few wrap-around copies
}

void EpochPlan::build(uint64_t key, bool shuffle_order) {
  key_ = key;
  shuffle_ = shuffle_order;
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
    block_row_[i] = rows;
    rows += count;
    position += count;
  }
  if (!block_order_.empty())
    windows_.push_back(Window{position - rows, position, static_cast<int64_t>(windows_.size())});
  window_first_.push_back(static_cast<int64_t>(block_order_.size()));

  // Positions past the split wrap to the start of the order, window by window.
  for (int64_t p = size_; p < extended_;) {
    const int64_t q = (p - size_) % size_;
    const int64_t w = window_of(q);
    const int64_t end = std::min(extended_, p + windows_[static_cast<size_t>(w)].end - q);
    windows_.push_back(Window{p, end, w});
    p = end;
  }
}

Placement EpochPlan::place(int64_t position) const {
  const int64_t p = base_position(position);
  const auto w = static_cast<size_t>(window_of(p));
  const Window& window = windows_[w];
  const int64_t local = p - window.begin;
  const int64_t row = shuffle_ ? permute_index(local, window.end - window.begin, mix_key(key_, 2 + w)) : local;
  // The block of the window that holds this buffer row.
  const auto first = block_row_.begin() + window_first_[w], last = block_row_.begin() + window_first_[w + 1];
  const auto at = std::upper_bound(first, last, row) - 1;
  const Block& b = blocks_[static_cast<size_t>(block_order_[static_cast<size_t>(at - block_row_.begin())])];
  return Placement{row, b.first_index + (row - *at)};
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

int64_t EpochPlan::window_of(int64_t position) const {
  auto it = std::upper_bound(windows_.begin(), windows_.end(), position,
                             [](int64_t p, const Window& w) { return p < w.begin; });
  return static_cast<int64_t>(it - windows_.begin()) - 1;
}

int64_t EpochPlan::bytes_held() const {
  return static_cast<int64_t>(blocks_.capacity() * sizeof(Block) + block_order_.capacity() * sizeof(int32_t) +
                              block_row_.capacity() * sizeof(int64_t) + window_first_.capacity() * sizeof(int64_t) +
                              windows_.capacity() * sizeof(Window));
}

}  // namespace stride::data
