// Stride's exception hierarchy. Library code throws one of these with a message
// that names the file, key or value at fault; `main` catches stride::Error,
// prints the message on one line and exits non-zero. Nothing below main exits.
#pragma once

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace stride {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

#define STRIDE_DEFINE_ERROR(Name) \
  class Name : public Error {     \
   public:                        \
    using Error::Error;           \
  }

STRIDE_DEFINE_ERROR(ConfigError);      // bad config file, key, value or command line
STRIDE_DEFINE_ERROR(DataError);        // bad dataset, shard, manifest or image
STRIDE_DEFINE_ERROR(StoreError);       // experiment store (SQLite)
STRIDE_DEFINE_ERROR(CheckpointError);  // missing or inconsistent checkpoint
STRIDE_DEFINE_ERROR(Hdf5Error);        // HDF5 library call failed
STRIDE_DEFINE_ERROR(DnnlError);        // oneDNN call failed
STRIDE_DEFINE_ERROR(CudaError);        // CUDA runtime call failed
STRIDE_DEFINE_ERROR(CudnnError);       // cuDNN call failed
STRIDE_DEFINE_ERROR(CublasError);      // cuBLAS call failed
STRIDE_DEFINE_ERROR(NcclError);        // NCCL call failed
STRIDE_DEFINE_ERROR(MpiError);         // MPI call failed or a rank went missing
STRIDE_DEFINE_ERROR(ShapeError);       // tensor shapes that do not fit together

#undef STRIDE_DEFINE_ERROR

// Throws E with a fmt-formatted message: fail<DataError>("{}: bad magic {:#x}", path, magic).
template <typename E, typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

// An errno value as a message reads it: "no space left on device".
inline std::string errno_text(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace stride
