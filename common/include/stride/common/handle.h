// One move-only RAII owner for every C handle Stride holds (HDF5 ids, sqlite3
// connections and statements, cuDNN handles and descriptors, CUDA streams and
// events, NCCL communicators). A Traits type says what "no handle" is and how
// to release one; release must not throw (it logs instead).
//
//   struct FileTraits { static hid_t invalid() noexcept { return -1; }
//                       static void close(hid_t id) noexcept { H5Fclose(id); } };
//   using File = UniqueHandle<hid_t, FileTraits>;
#pragma once

#include <utility>

namespace stride {

template <typename T, typename Traits>
class UniqueHandle {
 public:
  UniqueHandle() noexcept : handle_(Traits::invalid()) {}
  explicit UniqueHandle(T handle) noexcept : handle_(handle) {}
  ~UniqueHandle() { reset(); }

  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  UniqueHandle(UniqueHandle&& other) noexcept : handle_(other.release()) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  T get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != Traits::invalid(); }

  T release() noexcept { return std::exchange(handle_, Traits::invalid()); }
  void reset(T handle = Traits::invalid()) noexcept {
    T old = std::exchange(handle_, handle);
    if (old != Traits::invalid()) Traits::close(old);
  }

 private:
  T handle_;
};

// Runs a callable when the scope ends unless dismissed: transactions, MPI_Finalize, temp files.
template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) noexcept : f_(std::move(f)) {}
  ~ScopeGuard() {
    if (active_) f_();
  }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  void dismiss() noexcept { active_ = false; }

 private:
  F f_;
  bool active_ = true;
};

}  // namespace stride
