// Thin RAII layer over the HDF5 C API, shared by the shard format (data/) and
// checkpoints (core/). Every hid_t is owned by a UniqueHandle of its kind; every
// call goes through STRIDE_H5_CHECK, which turns a negative status into an
// Hdf5Error carrying HDF5's own innermost message. HDF5's automatic error
// printing is turned off: errors surface once, as exceptions.
// Files are written in the HDF5 1.8 format (object headers and superblock carry
// checksums). Strings are written fixed-length UTF-8 (h5py reads them as bytes);
// variable-length ones, as older files hold, are still read. Every read is
// checked against the file's size first (type, rank, element count), so a
// corrupt header cannot make a reader allocate or loop beyond what the file holds.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stride/common/error.h"
#include "stride/common/handle.h"

namespace stride::h5 {

// Throws Hdf5Error when status < 0; returns status otherwise.
int64_t check(int64_t status, const char* expression, const char* file, int line);
#define STRIDE_H5_CHECK(expr) ::stride::h5::check(static_cast<int64_t>(expr), #expr, __FILE__, __LINE__)

namespace detail {
template <herr_t (*Close)(hid_t)>
struct IdTraits {
  static hid_t invalid() noexcept { return H5I_INVALID_HID; }
  static void close(hid_t id) noexcept { Close(id); }
};
}  // namespace detail

using File = UniqueHandle<hid_t, detail::IdTraits<&H5Fclose>>;
using Group = UniqueHandle<hid_t, detail::IdTraits<&H5Gclose>>;
using Dataset = UniqueHandle<hid_t, detail::IdTraits<&H5Dclose>>;
using Dataspace = UniqueHandle<hid_t, detail::IdTraits<&H5Sclose>>;
using Datatype = UniqueHandle<hid_t, detail::IdTraits<&H5Tclose>>;
using Attribute = UniqueHandle<hid_t, detail::IdTraits<&H5Aclose>>;
using PropertyList = UniqueHandle<hid_t, detail::IdTraits<&H5Pclose>>;

// The HDF5 native type for a C++ element type.
template <typename T>
hid_t native_type();

// Files. create() truncates; open() fails with a message naming the path.
struct CreateOptions {
  // Disk space taken before HDF5 writes anything, so a full disk fails here,
  // cleanly, and not in a later write or in the close (which HDF5 1.10 cannot
  // recover from). An upper bound of the file's size; 0: none.
  uint64_t reserve_bytes = 0;
  // Bytes at the start of the file HDF5 leaves alone (0, or a power of 2 >= 512).
  hsize_t userblock = 0;
};
File create_file(const std::string& path, const CreateOptions& options = {});
// Closes a file created by create_file: a failed final flush is an Hdf5Error
// naming `path`; reserved space the file did not use is given back.
void close_file(File& file, const std::string& path);
File open_file(const std::string& path, bool writable = false);
bool is_hdf5(const std::string& path);

// Groups and links.
Group create_group(hid_t location, const std::string& name);
Group open_group(hid_t location, const std::string& name);
bool exists(hid_t location, const std::string& name);
std::vector<std::string> children(hid_t group);

// Attributes on files, groups or datasets. Writing replaces an existing one.
void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, int64_t value);
void write_attribute(hid_t object, const std::string& name, double value);
void write_attribute(hid_t object, const std::string& name, std::span<const std::string> values);
void write_attribute(hid_t object, const std::string& name, std::span<const int64_t> values);
void write_attribute(hid_t object, const std::string& name, std::span<const double> values);
bool has_attribute(hid_t object, const std::string& name);
std::string read_string_attribute(hid_t object, const std::string& name);
int64_t read_int_attribute(hid_t object, const std::string& name);
double read_double_attribute(hid_t object, const std::string& name);
std::vector<std::string> read_string_list_attribute(hid_t object, const std::string& name);
std::vector<int64_t> read_int_list_attribute(hid_t object, const std::string& name);
std::vector<double> read_double_list_attribute(hid_t object, const std::string& name);

// Datasets.
struct DatasetOptions {
  std::vector<hsize_t> chunk;  // empty: contiguous
  int gzip_level = 0;          // 0: no compression
  bool shuffle = false;        // byte shuffle before gzip
};

template <typename T>
Dataset create_dataset(hid_t location, const std::string& name, std::span<const hsize_t> dims,
                       const DatasetOptions& options = {});
Dataset open_dataset(hid_t location, const std::string& name);
std::vector<hsize_t> dataset_dims(hid_t dataset);
// The element type class and size, to check a dataset holds what a reader expects.
bool dataset_has_type(hid_t dataset, hid_t expected_native_type);
// Throws Hdf5Error unless the dataset's elements of `element_bytes` each could
// be stored in its file (times the best ratio gzip reaches, when filtered),
// and the storage its chunk index claims fits in the file.
void check_dataset_fits(hid_t dataset, const std::string& name, size_t element_bytes);
// The size in bytes of the file holding `object`.
uint64_t file_size(hid_t object);

// Writes / reads `rows` rows along the first dimension starting at `first_row`;
// a row is the product of the remaining dimensions.
template <typename T>
void write_rows(hid_t dataset, hsize_t first_row, hsize_t rows, const T* data);
template <typename T>
void read_rows(hid_t dataset, hsize_t first_row, hsize_t rows, T* out);

// Whole-dataset convenience: write a new dataset / read one into a vector.
template <typename T>
void write_dataset(hid_t location, const std::string& name, std::span<const hsize_t> dims, const T* data,
                   const DatasetOptions& options = {});
template <typename T>
std::vector<T> read_dataset(hid_t location, const std::string& name, std::vector<hsize_t>* dims = nullptr);

}  // namespace stride::h5
