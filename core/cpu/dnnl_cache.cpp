// oneDNN glue: status checks, cached primitives, descriptors for our layouts.
#include "dnnl_cache.h"

#include <omp.h>

#include <cstdlib>
#include <filesystem>

namespace stride::cpu {

void dnnl_check(dnnl_status_t status, const char* expression, const char* file, int line) {
  if (status == dnnl_success) return;
  fail<DnnlError>("oneDNN: status {} ({} at {}:{})", static_cast<int>(status), expression,
                  std::filesystem::path(file).filename().string(), line);
}

CachedPrimitive::CachedPrimitive(dnnl::engine& engine, dnnl::primitive primitive,
                                 const dnnl::memory::desc& scratchpad, Arguments arguments)
    : primitive_(std::move(primitive)), scratchpad_bytes_(scratchpad.get_size()) {
  memories_.reserve(arguments.size() + 1);
  for (const auto& [argument, desc] : arguments) {
    if (desc.is_zero()) continue;
    memories_.emplace_back(desc, engine, static_cast<void*>(DNNL_MEMORY_NONE));
    arguments_.push_back({argument, memories_.back().get()});
    descs_.emplace_back(argument, desc);
  }
  if (scratchpad_bytes_ > 0) {
    memories_.emplace_back(scratchpad, engine, static_cast<void*>(DNNL_MEMORY_NONE));
    arguments_.push_back({DNNL_ARG_SCRATCHPAD, memories_.back().get()});
  }
}

const dnnl::memory::desc& CachedPrimitive::desc(int argument) const {
  for (const auto& [id, desc] : descs_)
    if (id == argument) return desc;
  fail<Error>("a cached oneDNN primitive has no argument {}", argument);
}

ScopedThreads::ScopedThreads(int threads) : previous_(omp_get_max_threads()) { omp_set_num_threads(threads); }

ScopedThreads::~ScopedThreads() { omp_set_num_threads(previous_); }

void CachedPrimitive::execute(dnnl::stream& stream, std::initializer_list<const void*> pointers, void* scratchpad) {
  size_t i = 0;
  for (const void* pointer : pointers) {
    if (pointer == nullptr) continue;
    if (i >= memories_.size()) fail<Error>("too many arguments for a cached oneDNN primitive");
    STRIDE_DNNL_CHECK(dnnl_memory_set_data_handle(memories_[i++].get(), const_cast<void*>(pointer)));
  }
  if (scratchpad_bytes_ > 0) STRIDE_DNNL_CHECK(dnnl_memory_set_data_handle(memories_[i++].get(), scratchpad));
  if (i != memories_.size()) fail<Error>("a cached oneDNN primitive got {} of {} arguments", i, memories_.size());
  if (threads == 1) {
    ScopedThreads one(1);
    STRIDE_DNNL_CHECK(dnnl_primitive_execute(primitive_.get(), stream.get(), static_cast<int>(arguments_.size()),
                                             arguments_.data()));
    STRIDE_DNNL_CHECK(dnnl_stream_wait(stream.get()));
    return;
  }
  STRIDE_DNNL_CHECK(dnnl_primitive_execute(primitive_.get(), stream.get(), static_cast<int>(arguments_.size()),
                                           arguments_.data()));
  STRIDE_DNNL_CHECK(dnnl_stream_wait(stream.get()));
}

const void* WeightCache::get(const void* source, const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted,
                             uint64_t generation, dnnl::stream& stream) {
  if (plain == wanted) return source;
  Entry* entry = nullptr;
  for (Entry& e : entries_)
    if (e.source == source && e.wanted == wanted) entry = &e;
  if (entry == nullptr) {
    Entry e;
    e.source = source;
    e.wanted = wanted;
    const size_t bytes = (wanted.get_size() + 63) / 64 * 64;
    void* memory = std::aligned_alloc(64, bytes);
    if (memory == nullptr) fail<Error>("out of host memory allocating {} bytes of reordered weights", bytes);
    e.storage = std::shared_ptr<void>(memory, std::free);
    e.from = dnnl::memory(plain, engine_, const_cast<void*>(source));
    e.to = dnnl::memory(wanted, engine_, memory);
    e.reorder = dnnl::reorder(e.from, e.to);
    e.arguments = {dnnl_exec_arg_t{DNNL_ARG_FROM, e.from.get()}, dnnl_exec_arg_t{DNNL_ARG_TO, e.to.get()}};
    e.generation = generation + 1;  // never equal: the first use reorders
    entries_.push_back(std::move(e));
    entry = &entries_.back();
    ++built_;
  }
  if (entry->generation != generation) {
    STRIDE_DNNL_CHECK(dnnl_primitive_execute(entry->reorder.get(), stream.get(), 2, entry->arguments.data()));
    STRIDE_DNNL_CHECK(dnnl_stream_wait(stream.get()));
    entry->generation = generation;
  }
  return entry->storage.get();
}

dnnl::primitive_attr scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::memory::desc nhwc_desc(const Shape& s) {
  if (s.rank() != 4) fail<ShapeError>("expected an NHWC tensor, got shape {}", s.str());
  return dnnl::memory::desc(dims{s[0], s[3], s[1], s[2]}, dt::f32, tag::nhwc);
}

dnnl::memory::desc hwio_desc(const Shape& s) {
  if (s.rank() != 4) fail<ShapeError>("expected an HWIO kernel, got shape {}", s.str());
  return dnnl::memory::desc(dims{s[3], s[2], s[0], s[1]}, dt::f32, tag::hwio);
}

dnnl::memory::desc vector_desc(int64_t n) { return dnnl::memory::desc(dims{n}, dt::f32, tag::x); }

dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols) {
  return dnnl::memory::desc(dims{rows, cols}, dt::f32, tag::nc);
}

dnnl::memory::desc io_desc(const Shape& s) {
  if (s.rank() != 2) fail<ShapeError>("expected a dense kernel [in, out], got shape {}", s.str());
  return dnnl::memory::desc(dims{s[1], s[0]}, dt::f32, tag::io);
}

}  // namespace stride::cpu
