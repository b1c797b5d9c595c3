// What every fuzz target shares: a scratch directory for the files the
// readers open (they take paths, so each input is written to a file first),
// splitting one input into several files, and the one rule of the targets:
// a stride::Error is the reader refusing bad input as it should, anything
// else escaping (another exception, a crash, a sanitizer report, a hang) is a
// finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "stride/common/error.h"

namespace stride::fuzz {

// A private directory under $TMPDIR for this process, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  struct Scratch {
    std::filesystem::path path;
    Scratch() {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/stride-fuzz-XXXXXX";
      if (mkdtemp(pattern.data()) == nullptr) std::abort();
      path = pattern;
    }
    ~Scratch() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Scratch scratch;
  return scratch.path;
}

inline void write_file(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the scratch directory itself failing is no finding
}

// Splits an input into `parts` files: each part but the last is preceded by
// its length as 4 little-endian bytes (clamped to what is left), so the
// mutator can move the boundary as well as the bytes on either side.
inline std::vector<std::span<const uint8_t>> split_input(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::span<const uint8_t>> out;
  std::span<const uint8_t> rest(data, size);
  for (size_t i = 0; i + 1 < parts; ++i) {
    uint32_t length = 0;
    for (size_t b = 0; b < 4 && b < rest.size(); ++b) length |= uint32_t{rest[b]} << (8 * b);
    rest = rest.subspan(std::min<size_t>(4, rest.size()));
    const size_t take = std::min<size_t>(length, rest.size());
    out.push_back(rest.first(take));
    rest = rest.subspan(take);
  }
  out.push_back(rest);
  return out;
}

// Runs one input through a reader; only Stride's own errors are expected.
template <typename Body>
int run_expecting_stride_errors(Body&& body) {
  try {
    body();
  } catch (const stride::Error&) {
  }
  return 0;
}

}  // namespace stride::fuzz
