// The checkpoint file around its HDF5 content: a 512-byte userblock that
// carries the SHA-256 of everything after it, checked before HDF5 parses a
// byte, and the temporary names a save writes under.
#pragma once

#include <cstdint>
#include <string>

namespace stride::checkpoint_file {

// Bytes HDF5 leaves free at the start of every checkpoint for the seal.
inline constexpr uint64_t kUserblockBytes = 512;

// Writes the seal (size and SHA-256 of bytes [512, end)) into a file HDF5 has
// closed, and syncs it. CheckpointError naming `shown_as` on failure.
void seal(const std::string& path, const std::string& shown_as);

// CheckpointError "checkpoint FILE is corrupt: ..." unless the seal matches
// the bytes. A file that starts with the HDF5 signature predates seals and is
// let through (HDF5 then checks what it can).
void verify(const std::string& path);

// The name a save writes before renaming onto `path`: PATH.tmp-HOST-PID.
std::string temporary_name(const std::string& path);

// Removes temporaries in `directory` left by writers on this host that are no
// longer running (killed during a save). Returns how many were removed.
int remove_stale_temporaries(const std::string& directory);

}  // namespace stride::checkpoint_file
