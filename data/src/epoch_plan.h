// The order of one epoch and how it is cut into steps and ranks (private to
// the loader). A block is one HDF5 chunk of one shard — the reading unit. The
// plan permutes blocks, groups consecutive blocks into windows of at most
// `window_images` images (a window is never less than one block), and
// permutes positions within each window. Positions past the split's size
// (tail = pad, or a keep tail shorter than the rank count) wrap to the start
// of the order and are served by "copy" windows that re-read the blocks of an
// early window. Nothing here depends on the rank count except the cut.
//
// The within-window permutation is computed, not stored (a keyed Feistel
// bijection), so the plan holds a few words per block and nothing per image:
// its memory does not grow with the split beyond the block list.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "stride/data/loader.h"

namespace stride::data {

struct Block {
  int32_t shard = 0;
  int64_t first_row = 0;  // within the shard
  int64_t count = 0;
  int64_t first_index = 0;  // split index of the first row
};

// The blocks of a split in natural order, cut at `limit` images (0: all).
std::vector<Block> make_blocks(const std::vector<int64_t>& shard_sizes, const std::vector<int64_t>& chunk_sizes,
                               int64_t limit);

// A bijection of [0, n) chosen by `key` (n >= 1).
int64_t permute_index(int64_t x, int64_t n, uint64_t key);

struct Window {
  int64_t begin = 0, end = 0;  // positions [begin, end) of the extended order
  int64_t base = 0;            // the window whose blocks it reads (itself unless a wrap-around copy)
};

// Where the image at one position lies.
struct Placement {
  int64_t row = 0;    // row in its window's buffer
  int64_t index = 0;  // index within the split
};

class EpochPlan {
 public:
  // Sizes the per-epoch tables for `blocks` once; build() only refills them.
  EpochPlan(std::vector<Block> blocks, int64_t window_images, int64_t batch_size, int world, TailPolicy tail);

  // The order for this key (a function of seed, epoch and split); natural order when !shuffle.
  void build(uint64_t key, bool shuffle);

  int64_t size() const { return size_; }  // images in the split (after limit)
  int64_t steps() const { return steps_; }
  int64_t global_size(int64_t step) const;
  // This rank's positions [first, last) of step `step`.
  void rank_range(int64_t step, int rank, int64_t* first, int64_t* last) const;

  const std::vector<Window>& windows() const { return windows_; }
  // Ids of the blocks of window w's base, in the order their rows fill the window buffer.
  std::span<const int32_t> window_blocks(int64_t w) const;
  const Block& block(int32_t id) const { return blocks_[static_cast<size_t>(id)]; }
  int64_t max_window_rows() const { return max_window_rows_; }
  // The window serving position p (windows are sorted by position).
  int64_t window_of(int64_t position) const;
  // The buffer row and split index of the image at position p.
  Placement place(int64_t position) const;

  int64_t bytes_held() const;

 private:
  int64_t base_position(int64_t p) const { return p < size_ ? p : (p - size_) % size_; }

  std::vector<Block> blocks_;
  int64_t window_images_, batch_size_;
  int world_;
  TailPolicy tail_;
  int64_t size_ = 0, steps_ = 0, extended_ = 0, max_window_rows_ = 0;
  uint64_t key_ = 0;
  bool shuffle_ = false;

  std::vector<int32_t> block_order_;   // permutation of blocks_
  std::vector<int64_t> block_row_;     // per entry of block_order_: its first row in its window's buffer
  std::vector<int64_t> window_first_;  // base window w owns block_order_[window_first_[w], window_first_[w+1])
  std::vector<Window> windows_;        // base windows, then wrap-around copies
};

}  // namespace stride::data
