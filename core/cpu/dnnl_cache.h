// oneDNN primitives built once per shape and reused. A cached entry keeps the
// primitive, one dnnl::memory per argument (re-pointed at each call with
// set_data_handle) and the C argument array, so a steady-state call builds no
// descriptor, no primitive and no argument map. Scratchpads are user-managed:
// one buffer shared by all primitives (they run one at a time), sized when a
// primitive is created.
//
// Weights: a convolution runs its fast kernels only on the blocked weight
// layout it picks itself, while Stride keeps kernels in HWIO. WeightCache holds
// the reordered copy of each kernel per layout, tagged with the backend's write
// generation (bumped by every op that may write a parameter): forward and the
// backward-data pass of one step share one reorder, the next step's reorder
// runs once the optimizer has moved the weights.
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
#include "stride/core/op_key.h"
#include "stride/core/tensor.h"

namespace stride::cpu {

void dnnl_check(dnnl_status_t status, const char* expression, const char* file, int line);
#define STRIDE_DNNL_CHECK(expr) ::stride::cpu::dnnl_check((expr), #expr, __FILE__, __LINE__)

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
  // The descriptor of an argument given at construction (the layout the primitive picked).
  const dnnl::memory::desc& desc(int argument) const;
  // The layout Stride keeps this primitive's kernel in (HWIO), described once
  // here so a call builds no descriptor (a memory::desc allocates its dims).
  dnnl::memory::desc stored_weights;
  // 1: a problem too small for a fork-join to pay, built and run on one
  // thread; 0: every thread.
  int threads = 0;

 private:
  dnnl::primitive primitive_;
  std::vector<dnnl::memory> memories_;
  std::vector<std::pair<int, dnnl::memory::desc>> descs_;
  std::vector<dnnl_exec_arg_t> arguments_;
  size_t scratchpad_bytes_ = 0;
};

// Limits OpenMP to `threads` (> 0) for its scope: oneDNN sizes its work for
// the thread count it sees when a primitive is built and when it runs.
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int previous_ = 0;
};

class PrimitiveCache {
 public:
  // one_thread_for_small: problems a caller calls small run on one thread.
  // Worth it only while OpenMP's workers sleep between regions (passive
  // waiting): waking them costs more than a small problem's work. With
  // spinning workers a fork-join is a few microseconds and two threads win.
  PrimitiveCache(dnnl::engine& engine, bool one_thread_for_small)
      : engine_(engine), one_thread_for_small_(one_thread_for_small) {}

  // Returns the cached primitive for key, building it with make() the first
  // time, on one thread when `small` and small problems run alone (see
  // CachedPrimitive::threads). make() returns (primitive, argument list,
  // scratchpad descriptor).
  template <typename Make>
  CachedPrimitive& get(const OpKey& key, Make&& make, bool small = false) {
    auto found = cache_.find(key);
    if (found != cache_.end()) return *found->second;
    std::unique_ptr<CachedPrimitive> entry;
    if (small && one_thread_for_small_) {
      ScopedThreads one(1);
      entry = make();
      entry->threads = 1;
    } else {
      entry = make();
    }
    ++built_;
    if (entry->scratchpad_bytes() > scratchpad_.size()) scratchpad_.resize(entry->scratchpad_bytes());
    return *cache_.emplace(key, std::move(entry)).first->second;
  }
  void* scratchpad() { return scratchpad_.empty() ? nullptr : scratchpad_.data(); }
  dnnl::engine& engine() { return engine_; }
  size_t size() const { return cache_.size(); }
  uint64_t built() const { return built_; }

 private:
  dnnl::engine& engine_;
  bool one_thread_for_small_;
  std::unordered_map<OpKey, std::unique_ptr<CachedPrimitive>, OpKeyHash> cache_;
  std::vector<uint8_t> scratchpad_;
  uint64_t built_ = 0;
};

// Kernels reordered into the layouts primitives asked for (see the top of this file).
class WeightCache {
 public:
  explicit WeightCache(dnnl::engine& engine) : engine_(engine) {}

  // A pointer to `source` (described by `plain`) in layout `wanted`: the source
  // itself when the layouts agree, else a cached copy reordered at most once
  // per generation.
  const void* get(const void* source, const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted,
                  uint64_t generation, dnnl::stream& stream);
  size_t size() const { return entries_.size(); }
  uint64_t built() const { return built_; }

 private:
  struct Entry {
    const void* source = nullptr;
    dnnl::memory::desc wanted;
    uint64_t generation = 0;
    std::shared_ptr<void> storage;
    dnnl::memory from, to;
    dnnl::reorder reorder;
    std::array<dnnl_exec_arg_t, 2> arguments{};  // the C API's argument list: no map per call
  };
  dnnl::engine& engine_;
  std::vector<Entry> entries_;
  uint64_t built_ = 0;
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
