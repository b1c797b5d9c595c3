// The key of a backend's per-shape cache (oneDNN primitives, cuDNN descriptors
// and algorithm choices): an op code followed by every shape and parameter
// that decides what gets built. Floats are keyed by their bits, so two values
// that differ in the last place build two entries, never one wrong one.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "stride/common/error.h"
#include "stride/core/tensor.h"

namespace stride {

struct OpKey {
  std::array<int64_t, 32> values{};
  int size = 0;

  template <typename T>
    requires std::is_integral_v<T> || std::is_enum_v<T>
  OpKey& add(T v) {
    return push(static_cast<int64_t>(v));
  }
  OpKey& add(float v) { return push(static_cast<int64_t>(std::bit_cast<uint32_t>(v))); }
  OpKey& add(const Shape& s) {
    add(s.rank());
    for (int i = 0; i < s.rank(); ++i) add(s[i]);
    return *this;
  }
  // Window parameters (ConvParams, PoolParams) in one call.
  template <typename Window>
  OpKey& add_window(const Window& p) {
    return add(p.kernel_h).add(p.kernel_w).add(p.stride_h).add(p.stride_w).add(p.pad_top).add(p.pad_left)
        .add(p.pad_bottom).add(p.pad_right);
  }
  bool operator==(const OpKey& other) const { return size == other.size && values == other.values; }

 private:
  OpKey& push(int64_t v) {
    if (size == static_cast<int>(values.size())) fail<Error>("OpKey overflow");
    values[static_cast<size_t>(size++)] = v;
    return *this;
  }
};

struct OpKeyHash {
  size_t operator()(const OpKey& key) const noexcept {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the used values
    for (int i = 0; i < key.size; ++i) {
      h ^= static_cast<uint64_t>(key.values[static_cast<size_t>(i)]);
      h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
  }
};

}  // namespace stride
