// oneDNN primitives built once per shape and reused. A cached entry keeps the
// primitive, one dnnl::memory per argument (re-pointed at each call with
// set_data_handle) and the C argument array, so a steady-state call builds no
// descriptor, no primitive and no argument map. Scratchpads are user-managed:
// one buffer shared by all primitives (they run one at a time), sized when a
// primitive is created.
#pragma once

#include <dnnl.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stride/common/error.h"
#include "stride/core/tensor.h"

namespace stride::cpu {

void dnnl_check(dnnl_status_t status, const char* expression, const char* file, int line);
#define STRIDE_DNNL_CHECK(expr) ::stride::cpu::dnnl_check((expr), #expr, __FILE__, __LINE__)

// Identifies a primitive: an op code followed by every shape and parameter that matters.
struct OpKey {
  std::array<int64_t, 24> values{};
  int size = 0;

  OpKey& add(int64_t v) {
    if (size == static_cast<int>(values.size())) fail<Error>("OpKey overflow");
    values[static_cast<size_t>(size++)] = v;
    return *this;
  }
  OpKey& add(const Shape& s) {
    add(s.rank());
    for (int i = 0; i < s.rank(); ++i) add(s[i]);
    return *this;
  }
  bool operator==(const OpKey& other) const { return size == other.size && values == other.values; }
};

struct OpKeyHash {
  size_t operator()(const OpKey& key) const noexcept {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < key.size; ++i) {
      h ^= static_cast<uint64_t>(key.values[static_cast<size_t>(i)]);
      h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
  }
};

// (DNNL_ARG_*, descriptor) in the order execute() receives pointers. An argument
// with an empty (zero) descriptor is left out: an optional bias absent.
using Arguments = std::initializer_list<std::pair<int, dnnl::memory::desc>>;

class CachedPrimitive {
 public:
  CachedPrimitive(dnnl::engine& engine, dnnl::primitive primitive, const dnnl::memory::desc& scratchpad,
                  Arguments arguments);

  // Points the arguments, in construction order, at `pointers` and runs on the
  // stream. A null pointer stands for a left-out argument and is skipped.
  void execute(dnnl::stream& stream, std::initializer_list<const void*> pointers, void* scratchpad);
  size_t scratchpad_bytes() const { return scratchpad_bytes_; }

 private:
  dnnl::primitive primitive_;
  std::vector<dnnl::memory> memories_;
  std::vector<dnnl_exec_arg_t> arguments_;
  size_t scratchpad_bytes_ = 0;
};

class PrimitiveCache {
 public:
  explicit PrimitiveCache(dnnl::engine& engine) : engine_(engine) {}

  // Returns the cached primitive for key, building it with make() the first time.
  // make() returns (primitive, argument list, scratchpad descriptor).
  template <typename Make>
  CachedPrimitive& get(const OpKey& key, Make&& make) {
    auto found = cache_.find(key);
    if (found != cache_.end()) return *found->second;
    auto entry = make();
    if (entry->scratchpad_bytes() > scratchpad_.size()) scratchpad_.resize(entry->scratchpad_bytes());
    return *cache_.emplace(key, std::move(entry)).first->second;
  }
  void* scratchpad() { return scratchpad_.empty() ? nullptr : scratchpad_.data(); }
  dnnl::engine& engine() { return engine_; }
  size_t size() const { return cache_.size(); }

 private:
  dnnl::engine& engine_;
  std::unordered_map<OpKey, std::unique_ptr<CachedPrimitive>, OpKeyHash> cache_;
  std::vector<uint8_t> scratchpad_;
};

// cached<dnnl::convolution_forward>(engine, pd, {{DNNL_ARG_SRC, pd.src_desc()}, ...})
template <typename Primitive, typename PrimitiveDesc>
std::unique_ptr<CachedPrimitive> cached(dnnl::engine& engine, const PrimitiveDesc& pd, Arguments arguments) {
  return std::make_unique<CachedPrimitive>(engine, Primitive(pd), pd.scratchpad_desc(), arguments);
}

// The descriptor when `present`, else the empty one that leaves the argument out.
inline dnnl::memory::desc optional_desc(bool present, const dnnl::memory::desc& desc) {
  return present ? desc : dnnl::memory::desc();
}

// The weight-gradient primitives (convolution, inner product) take the same
// arguments: src, diff_dst in; diff_weights and, when there is a bias, diff_bias out.
template <typename Primitive, typename PrimitiveDesc>
std::unique_ptr<CachedPrimitive> cached_backward_weights(dnnl::engine& engine, const PrimitiveDesc& pd, bool bias) {
  return cached<Primitive>(engine, pd,
                           {{DNNL_ARG_SRC, pd.src_desc()},
                            {DNNL_ARG_DIFF_DST, pd.diff_dst_desc()},
                            {DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc()},
                            {DNNL_ARG_DIFF_BIAS, optional_desc(bias, pd.diff_bias_desc())}});
}

// Primitive attributes with a user-managed scratchpad.
dnnl::primitive_attr scratchpad_attr();

// Plain memory descriptors for our layouts.
dnnl::memory::desc nhwc_desc(const Shape& s);   // [N,H,W,C] -> dims {N,C,H,W}, tag nhwc
dnnl::memory::desc hwio_desc(const Shape& s);   // [KH,KW,I,O] -> dims {O,I,KH,KW}, tag hwio
dnnl::memory::desc vector_desc(int64_t n);      // [n], tag x
dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols);  // row-major [rows, cols], tag nc
dnnl::memory::desc io_desc(const Shape& s);     // dense kernel [I,O] -> dims {O,I}, tag io

}  // namespace stride::cpu
