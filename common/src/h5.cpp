// HDF5 helpers: checked calls, attributes, chunked datasets, row hyperslabs.
// Two ideas: every size a file claims is checked against the file's own size
// before anything is allocated or read, and a file being written takes its
// disk space up front, so a full disk never reaches HDF5's final flush.
#include "stride/common/h5.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <mutex>
#include <regex>

namespace stride::h5 {
namespace {

void silence_hdf5_once() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

herr_t innermost_message(unsigned n, const H5E_error2_t* error, void* out) {
  // The walk goes from the innermost frame outwards: the first one names the real cause.
  if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(out) = error->desc;
  return 0;
}

// gzip (deflate) expands at most 1032:1; a filtered dataset cannot hold more.
constexpr uint64_t kMaxCompression = 1100;
constexpr int kMaxRank = 32;  // H5S_MAX_RANK

// HDF5's file-driver messages embed a ctime (with its newline) and an errno;
// a reader needs the errno's meaning, on one line.
std::string readable(std::string cause) {
  static const std::regex errno_pattern(R"(errno = (\d+))");
  std::smatch match;
  if (std::regex_search(cause, match, errno_pattern))
    return fmt::format("{}: {}", cause.substr(0, cause.find(':')), errno_text(std::stoi(match[1].str())));
  std::replace(cause.begin(), cause.end(), '\n', ' ');
  return cause;
}

// The innermost message on HDF5's error stack, which is then cleared.
std::string take_cause() {
  std::string cause;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_message, &cause);
  H5Eclear2(H5E_DEFAULT);
  return cause.empty() ? "call failed" : readable(cause);
}

// Variable-length strings (read only, as older files hold them).
Datatype variable_string_type() {
  Datatype type(STRIDE_H5_CHECK(H5Tcopy(H5T_C_S1)));
  STRIDE_H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  STRIDE_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  return type;
}

// Fixed-length strings of `width` bytes, zero padded (numpy's 'S' dtype).
Datatype fixed_string_type(size_t width) {
  Datatype type(STRIDE_H5_CHECK(H5Tcopy(H5T_C_S1)));
  STRIDE_H5_CHECK(H5Tset_size(type.get(), std::max<size_t>(width, 1)));
  STRIDE_H5_CHECK(H5Tset_strpad(type.get(), H5T_STR_NULLPAD));
  STRIDE_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  return type;
}

uint64_t checked_product(uint64_t a, uint64_t b, const std::string& what) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) fail<Hdf5Error>("{} overflows 64 bits", what);
  return a * b;
}

// Elements of a dataspace that must be scalar or simple of a sane rank.
uint64_t space_elements(hid_t space, const std::string& what) {
  const H5S_class_t kind = H5Sget_simple_extent_type(space);
  if (kind == H5S_NULL) return 0;
  if (kind != H5S_SCALAR && kind != H5S_SIMPLE) fail<Hdf5Error>("{} has an unreadable dataspace", what);
  const int rank = static_cast<int>(STRIDE_H5_CHECK(H5Sget_simple_extent_ndims(space)));
  if (rank > kMaxRank) fail<Hdf5Error>("{} has rank {}", what, rank);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  STRIDE_H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  uint64_t elements = 1;
  for (hsize_t d : dims) elements = checked_product(elements, d, what + "'s size");
  return elements;
}

// Throws unless `bytes` of `what` fit in `limit`, the most its file can hold.
void check_fits(uint64_t bytes, uint64_t limit, hid_t object, const std::string& what) {
  if (bytes > limit)
    fail<Hdf5Error>("{} claims {} bytes, more than its file of {} bytes can hold (corrupt?)", what, bytes,
                    file_size(object));
}

// Takes `bytes` of disk for `path` before HDF5 truncates and writes it: a file
// of that size is allocated and emptied again, so no space is ever promised
// that is not there. Filesystems without fallocate get no reservation.
void check_space(const std::string& path, uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail<Hdf5Error>("{}: cannot create: {}", path, errno_text(errno));
  const int error = ::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) == 0 ? 0 : errno;
  [[maybe_unused]] const int truncated = ::ftruncate(fd, 0);
  ::close(fd);
  if (error == 0 || error == EOPNOTSUPP || error == ENOSYS) return;
  ::unlink(path.c_str());
  fail<Hdf5Error>("{}: {} (needs up to {} bytes)", path, errno_text(error), bytes);
}

// Holds the space HDF5 will write into (beyond the end of file, so the size
// HDF5 sees is unchanged); close_file gives back what is left.
void hold_space(hid_t file, uint64_t bytes) {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == nullptr) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  [[maybe_unused]] const int held =
      ::fallocate(*static_cast<int*>(handle), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes));
}

void release_unused_space(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat info {};
  if (::fstat(fd, &info) == 0) {
    const auto allocated = static_cast<off_t>(info.st_blocks) * 512;
    if (allocated > info.st_size) [[maybe_unused]]
      const int punched = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, info.st_size, allocated);
  }
  ::close(fd);
}

Attribute recreate_attribute(hid_t object, const std::string& name, hid_t type, hid_t space) {
  if (STRIDE_H5_CHECK(H5Aexists(object, name.c_str())) > 0) STRIDE_H5_CHECK(H5Adelete(object, name.c_str()));
  return Attribute(STRIDE_H5_CHECK(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)));
}

Attribute open_attribute(hid_t object, const std::string& name) {
  if (STRIDE_H5_CHECK(H5Aexists(object, name.c_str())) <= 0) fail<Hdf5Error>("attribute '{}' is missing", name);
  return Attribute(STRIDE_H5_CHECK(H5Aopen(object, name.c_str(), H5P_DEFAULT)));
}

// The elements of an attribute whose stored bytes (element_bytes each) fit in its file.
size_t attribute_elements(hid_t attribute, const std::string& name, size_t element_bytes) {
  Dataspace space(STRIDE_H5_CHECK(H5Aget_space(attribute)));
  const std::string what = fmt::format("attribute '{}'", name);
  const uint64_t elements = space_elements(space.get(), what);
  check_fits(checked_product(elements, std::max<size_t>(element_bytes, 1), what), file_size(attribute), attribute,
             what);
  return static_cast<size_t>(elements);
}

template <typename T>
void write_numeric_attribute(hid_t object, const std::string& name, std::span<const T> values, bool scalar) {
  const hsize_t count = values.size();
  Dataspace space(scalar ? STRIDE_H5_CHECK(H5Screate(H5S_SCALAR))
                         : STRIDE_H5_CHECK(H5Screate_simple(1, &count, nullptr)));
  Attribute attribute = recreate_attribute(object, name, native_type<T>(), space.get());
  STRIDE_H5_CHECK(H5Awrite(attribute.get(), native_type<T>(), values.data()));
}

template <typename T>
std::vector<T> read_numeric_attribute(hid_t object, const std::string& name) {
  Attribute attribute = open_attribute(object, name);
  Datatype stored(STRIDE_H5_CHECK(H5Aget_type(attribute.get())));
  const H5T_class_t kind = H5Tget_class(stored.get());
  if (kind != H5T_INTEGER && kind != H5T_FLOAT) fail<Hdf5Error>("attribute '{}' is not a number", name);
  std::vector<T> values(attribute_elements(attribute.get(), name, H5Tget_size(stored.get())));
  STRIDE_H5_CHECK(H5Aread(attribute.get(), native_type<T>(), values.data()));
  return values;
}

Dataspace row_selection(hid_t dataset, hsize_t first_row, hsize_t rows, Dataspace* memory_space) {
  Dataspace file_space(STRIDE_H5_CHECK(H5Dget_space(dataset)));
  const int rank = static_cast<int>(STRIDE_H5_CHECK(H5Sget_simple_extent_ndims(file_space.get())));
  std::vector<hsize_t> dims(rank);
  STRIDE_H5_CHECK(H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr));
  if (rank == 0 || first_row + rows > dims[0])
    fail<Hdf5Error>("rows [{}, {}) outside a dataset of {} rows", first_row, first_row + rows, rank ? dims[0] : 0);
  std::vector<hsize_t> start(rank, 0), count = dims;
  start[0] = first_row;
  count[0] = rows;
  STRIDE_H5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr));
  *memory_space = Dataspace(STRIDE_H5_CHECK(H5Screate_simple(rank, count.data(), nullptr)));
  return file_space;
}

}  // namespace

int64_t check(int64_t status, const char* expression, const char* file, int line) {
  if (status >= 0) return status;
  const std::string cause = take_cause();
  const std::string where = std::filesystem::path(file).filename().string();
  fail<Hdf5Error>("HDF5: {} ({} at {}:{})", cause, expression, where, line);
}

template <>
hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t native_type<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<uint32_t>() {
  return H5T_NATIVE_UINT32;
}
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}

File create_file(const std::string& path, const CreateOptions& options) {
  silence_hdf5_once();
  if (options.reserve_bytes > 0) check_space(path, options.reserve_bytes + options.userblock);
  PropertyList create(STRIDE_H5_CHECK(H5Pcreate(H5P_FILE_CREATE)));
  if (options.userblock > 0) STRIDE_H5_CHECK(H5Pset_userblock(create.get(), options.userblock));
  PropertyList access(STRIDE_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)));
  STRIDE_H5_CHECK(H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_V18));
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, create.get(), access.get());
  if (id < 0) fail<Hdf5Error>("{}: cannot create HDF5 file: {}", path, take_cause());
  if (options.reserve_bytes > 0) hold_space(id, options.reserve_bytes + options.userblock);
  return File(id);
}

void close_file(File& file, const std::string& path) {
  if (!file) return;
  if (H5Fclose(file.release()) < 0) fail<Hdf5Error>("{}: cannot finish writing: {}", path, take_cause());
  release_unused_space(path);
}

uint64_t file_size(hid_t object) {
  File file(STRIDE_H5_CHECK(H5Iget_file_id(object)));
  hsize_t size = 0;
  STRIDE_H5_CHECK(H5Fget_filesize(file.get(), &size));
  return size;
}

File open_file(const std::string& path, bool writable) {
  silence_hdf5_once();
  if (!std::filesystem::exists(path)) fail<Hdf5Error>("{}: no such file", path);
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    fail<Hdf5Error>("{}: not an HDF5 file (truncated or corrupt?)", path);
  }
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail<Hdf5Error>("{}: cannot open HDF5 file (truncated or corrupt?): {}", path, take_cause());
  return File(id);
}

bool is_hdf5(const std::string& path) {
  silence_hdf5_once();
  const htri_t result = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  return result > 0;
}

Group create_group(hid_t location, const std::string& name) {
  silence_hdf5_once();
  return Group(STRIDE_H5_CHECK(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
}

Group open_group(hid_t location, const std::string& name) {
  if (name != "." && name != "/" && !exists(location, name)) fail<Hdf5Error>("group '{}' is missing", name);
  return Group(STRIDE_H5_CHECK(H5Gopen2(location, name.c_str(), H5P_DEFAULT)));
}

bool exists(hid_t location, const std::string& name) {
  silence_hdf5_once();
  return STRIDE_H5_CHECK(H5Lexists(location, name.c_str(), H5P_DEFAULT)) > 0;
}

std::vector<std::string> children(hid_t group) {
  H5G_info_t info;
  STRIDE_H5_CHECK(H5Gget_info(group, &info));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(group, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) {
      // Groups created without creation-order tracking: fall back to name order.
      H5Eclear2(H5E_DEFAULT);
      std::string name(
          STRIDE_H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT)),
          '\0');
      STRIDE_H5_CHECK(
          H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT));
      names.push_back(std::move(name));
      continue;
    }
    std::string name(static_cast<size_t>(size), '\0');
    STRIDE_H5_CHECK(
        H5Lget_name_by_idx(group, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT));
    names.push_back(std::move(name));
  }
  return names;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  Datatype type = fixed_string_type(value.size());
  Dataspace space(STRIDE_H5_CHECK(H5Screate(H5S_SCALAR)));
  Attribute attribute = recreate_attribute(object, name, type.get(), space.get());
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  STRIDE_H5_CHECK(H5Awrite(attribute.get(), type.get(), padded.data()));
}

void write_attribute(hid_t object, const std::string& name, int64_t value) {
  write_numeric_attribute<int64_t>(object, name, std::span<const int64_t>(&value, 1), true);
}

void write_attribute(hid_t object, const std::string& name, double value) {
  write_numeric_attribute<double>(object, name, std::span<const double>(&value, 1), true);
}

void write_attribute(hid_t object, const std::string& name, std::span<const std::string> values) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  Datatype type = fixed_string_type(width);
  const hsize_t count = values.size();
  Dataspace space(STRIDE_H5_CHECK(H5Screate_simple(1, &count, nullptr)));
  Attribute attribute = recreate_attribute(object, name, type.get(), space.get());
  std::vector<char> buffer(width * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), buffer.begin() + i * width);
  STRIDE_H5_CHECK(H5Awrite(attribute.get(), type.get(), buffer.data()));
}

void write_attribute(hid_t object, const std::string& name, std::span<const int64_t> values) {
  write_numeric_attribute<int64_t>(object, name, values, false);
}

void write_attribute(hid_t object, const std::string& name, std::span<const double> values) {
  write_numeric_attribute<double>(object, name, values, false);
}

bool has_attribute(hid_t object, const std::string& name) {
  return STRIDE_H5_CHECK(H5Aexists(object, name.c_str())) > 0;
}

std::vector<std::string> read_string_list_attribute(hid_t object, const std::string& name) {
  Attribute attribute = open_attribute(object, name);
  Datatype stored(STRIDE_H5_CHECK(H5Aget_type(attribute.get())));
  if (H5Tget_class(stored.get()) != H5T_STRING) fail<Hdf5Error>("attribute '{}' is not a string", name);
  const bool variable = STRIDE_H5_CHECK(H5Tis_variable_str(stored.get())) > 0;
  // A variable-length string is stored as a 16-byte reference into the global heap.
  const size_t count = attribute_elements(attribute.get(), name, variable ? 16 : H5Tget_size(stored.get()));
  std::vector<std::string> values;
  if (variable) {
    Datatype type = variable_string_type();
    std::vector<char*> pointers(count, nullptr);
    STRIDE_H5_CHECK(H5Aread(attribute.get(), type.get(), pointers.data()));
    for (char* p : pointers) values.emplace_back(p ? p : "");
    Dataspace space(STRIDE_H5_CHECK(H5Aget_space(attribute.get())));
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
  } else {
    // Fixed-length strings (as numpy's 'S' dtype writes them).
    const size_t width = H5Tget_size(stored.get());
    if (width == 0) fail<Hdf5Error>("attribute '{}' holds strings of width 0", name);
    std::vector<char> buffer(width * count);
    STRIDE_H5_CHECK(H5Aread(attribute.get(), stored.get(), buffer.data()));
    for (size_t i = 0; i < count; ++i) {
      std::string v(buffer.data() + i * width, width);
      v.erase(v.find_last_not_of('\0') + 1);
      values.push_back(std::move(v));
    }
  }
  return values;
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  auto values = read_string_list_attribute(object, name);
  if (values.size() != 1) fail<Hdf5Error>("attribute '{}' holds {} strings, expected one", name, values.size());
  return values[0];
}

std::vector<int64_t> read_int_list_attribute(hid_t object, const std::string& name) {
  return read_numeric_attribute<int64_t>(object, name);
}

std::vector<double> read_double_list_attribute(hid_t object, const std::string& name) {
  return read_numeric_attribute<double>(object, name);
}

int64_t read_int_attribute(hid_t object, const std::string& name) {
  auto values = read_int_list_attribute(object, name);
  if (values.size() != 1) fail<Hdf5Error>("attribute '{}' holds {} values, expected one", name, values.size());
  return values[0];
}

double read_double_attribute(hid_t object, const std::string& name) {
  auto values = read_double_list_attribute(object, name);
  if (values.size() != 1) fail<Hdf5Error>("attribute '{}' holds {} values, expected one", name, values.size());
  return values[0];
}

template <typename T>
Dataset create_dataset(hid_t location, const std::string& name, std::span<const hsize_t> dims,
                       const DatasetOptions& options) {
  silence_hdf5_once();
  Dataspace space(STRIDE_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
  PropertyList properties(STRIDE_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
  if (!options.chunk.empty()) {
    STRIDE_H5_CHECK(H5Pset_chunk(properties.get(), static_cast<int>(options.chunk.size()), options.chunk.data()));
    if (options.shuffle) STRIDE_H5_CHECK(H5Pset_shuffle(properties.get()));
    if (options.gzip_level > 0) STRIDE_H5_CHECK(H5Pset_deflate(properties.get(), options.gzip_level));
  }
  return Dataset(STRIDE_H5_CHECK(
      H5Dcreate2(location, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT)));
}

Dataset open_dataset(hid_t location, const std::string& name) {
  if (!exists(location, name)) fail<Hdf5Error>("dataset '{}' is missing", name);
  return Dataset(STRIDE_H5_CHECK(H5Dopen2(location, name.c_str(), H5P_DEFAULT)));
}

std::vector<hsize_t> dataset_dims(hid_t dataset) {
  Dataspace space(STRIDE_H5_CHECK(H5Dget_space(dataset)));
  const int rank = static_cast<int>(STRIDE_H5_CHECK(H5Sget_simple_extent_ndims(space.get())));
  if (rank > kMaxRank) fail<Hdf5Error>("a dataset has rank {}", rank);
  std::vector<hsize_t> dims(rank);
  STRIDE_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return dims;
}

bool dataset_has_type(hid_t dataset, hid_t expected_native_type) {
  Datatype stored(STRIDE_H5_CHECK(H5Dget_type(dataset)));
  return H5Tget_class(stored.get()) == H5Tget_class(expected_native_type) &&
         H5Tget_size(stored.get()) == H5Tget_size(expected_native_type) &&
         (H5Tget_class(stored.get()) != H5T_INTEGER || H5Tget_sign(stored.get()) == H5Tget_sign(expected_native_type));
}

void check_dataset_fits(hid_t dataset, const std::string& name, size_t element_bytes) {
  const std::string what = fmt::format("dataset '{}'", name);
  uint64_t elements = 1;
  for (hsize_t d : dataset_dims(dataset)) elements = checked_product(elements, d, what + "'s size");
  PropertyList create(STRIDE_H5_CHECK(H5Dget_create_plist(dataset)));
  const uint64_t stored = file_size(dataset);
  const uint64_t limit = STRIDE_H5_CHECK(H5Pget_nfilters(create.get())) > 0 ? stored * kMaxCompression : stored;
  check_fits(checked_product(elements, element_bytes, what), limit, dataset, what);
  // The chunks' stored sizes come from the chunk index: a corrupt one makes
  // HDF5 allocate what it claims (4 GiB for a 7 KiB file) before reading.
  check_fits(H5Dget_storage_size(dataset), stored, dataset, what + "'s storage");
  if (H5Pget_layout(create.get()) == H5D_CHUNKED) {
    hsize_t chunk[kMaxRank] = {};
    const int rank = static_cast<int>(STRIDE_H5_CHECK(H5Pget_chunk(create.get(), kMaxRank, chunk)));
    uint64_t chunk_elements = 1;
    for (int i = 0; i < rank; ++i) chunk_elements = checked_product(chunk_elements, chunk[i], what + "'s chunk");
    check_fits(checked_product(chunk_elements, element_bytes, what + "'s chunk"), limit, dataset, what + "'s chunk");
  }
}

template <typename T>
void write_rows(hid_t dataset, hsize_t first_row, hsize_t rows, const T* data) {
  if (rows == 0) return;
  Dataspace memory_space;
  Dataspace file_space = row_selection(dataset, first_row, rows, &memory_space);
  STRIDE_H5_CHECK(H5Dwrite(dataset, native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, data));
}

template <typename T>
void read_rows(hid_t dataset, hsize_t first_row, hsize_t rows, T* out) {
  if (rows == 0) return;
  Dataspace memory_space;
  Dataspace file_space = row_selection(dataset, first_row, rows, &memory_space);
  STRIDE_H5_CHECK(H5Dread(dataset, native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, out));
}

template <typename T>
void write_dataset(hid_t location, const std::string& name, std::span<const hsize_t> dims, const T* data,
                   const DatasetOptions& options) {
  Dataset dataset = create_dataset<T>(location, name, dims, options);
  STRIDE_H5_CHECK(H5Dwrite(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
}

template <typename T>
std::vector<T> read_dataset(hid_t location, const std::string& name, std::vector<hsize_t>* dims) {
  Dataset dataset = open_dataset(location, name);
  Datatype stored(STRIDE_H5_CHECK(H5Dget_type(dataset.get())));
  if (H5Tget_class(stored.get()) != H5Tget_class(native_type<T>()))
    fail<Hdf5Error>("dataset '{}' does not hold {} numbers", name,
                    H5Tget_class(native_type<T>()) == H5T_FLOAT ? "floating-point" : "integer");
  check_dataset_fits(dataset.get(), name, H5Tget_size(stored.get()));
  const std::vector<hsize_t> shape = dataset_dims(dataset.get());
  size_t count = 1;
  for (hsize_t d : shape) count *= d;
  std::vector<T> values(count);
  if (count > 0)
    STRIDE_H5_CHECK(H5Dread(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  if (dims) *dims = shape;
  return values;
}

#define STRIDE_H5_INSTANTIATE(T)                                                                                  \
  template Dataset create_dataset<T>(hid_t, const std::string&, std::span<const hsize_t>, const DatasetOptions&); \
  template void write_rows<T>(hid_t, hsize_t, hsize_t, const T*);                                                 \
  template void read_rows<T>(hid_t, hsize_t, hsize_t, T*);                                                        \
  template void write_dataset<T>(hid_t, const std::string&, std::span<const hsize_t>, const T*,                   \
                                 const DatasetOptions&);                                                          \
  template std::vector<T> read_dataset<T>(hid_t, const std::string&, std::vector<hsize_t>*);

STRIDE_H5_INSTANTIATE(float)
STRIDE_H5_INSTANTIATE(double)
STRIDE_H5_INSTANTIATE(uint8_t)
STRIDE_H5_INSTANTIATE(int32_t)
STRIDE_H5_INSTANTIATE(uint32_t)
STRIDE_H5_INSTANTIATE(int64_t)
STRIDE_H5_INSTANTIATE(uint64_t)
#undef STRIDE_H5_INSTANTIATE

}  // namespace stride::h5
