// SHA-256 per FIPS 180-4: parameter hashes in the store and checkpoint
// checksums. Incremental, so a file is hashed in pieces without holding it.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stride {

class Sha256 {
 public:
  Sha256();
  void update(std::span<const unsigned char> bytes);
  void update(std::string_view bytes);
  // The digest as 64 lower-case hex characters; the object is spent afterwards.
  std::string hex_digest();

 private:
  std::array<uint32_t, 8> state_;
  std::array<unsigned char, 64> block_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes hashed so far
};

// SHA-256 of bytes, as 64 lower-case hex characters.
std::string sha256_hex(std::string_view bytes);

}  // namespace stride
