// HDF5 helpers: checked calls, attributes, chunked datasets, row hyperslabs.
#include "stride/common/h5.h"

#include <filesystem>
#include <mutex>

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

Datatype string_type() {
  Datatype type(STRIDE_H5_CHECK(H5Tcopy(H5T_C_S1)));
  STRIDE_H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  STRIDE_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  return type;
}

Attribute recreate_attribute(hid_t object, const std::string& name, hid_t type, hid_t space) {
  if (STRIDE_H5_CHECK(H5Aexists(object, name.c_str())) > 0) STRIDE_H5_CHECK(H5Adelete(object, name.c_str()));
  return Attribute(STRIDE_H5_CHECK(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)));
}

Attribute open_attribute(hid_t object, const std::string& name) {
  if (STRIDE_H5_CHECK(H5Aexists(object, name.c_str())) <= 0) fail<Hdf5Error>("attribute '{}' is missing", name);
  return Attribute(STRIDE_H5_CHECK(H5Aopen(object, name.c_str(), H5P_DEFAULT)));
}

hssize_t attribute_elements(hid_t attribute) {
  Dataspace space(STRIDE_H5_CHECK(H5Aget_space(attribute)));
  return STRIDE_H5_CHECK(H5Sget_simple_extent_npoints(space.get()));
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
  std::vector<T> values(static_cast<size_t>(attribute_elements(attribute.get())));
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
  std::string cause;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_message, &cause);
  H5Eclear2(H5E_DEFAULT);
  const std::string where = std::filesystem::path(file).filename().string();
  fail<Hdf5Error>("HDF5: {} ({} at {}:{})", cause.empty() ? "call failed" : cause, expression, where, line);
}

template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }

File create_file(const std::string& path) {
  silence_hdf5_once();
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    fail<Hdf5Error>("{}: cannot create HDF5 file", path);
  }
  return File(id);
}

File open_file(const std::string& path, bool writable) {
  silence_hdf5_once();
  if (!std::filesystem::exists(path)) fail<Hdf5Error>("{}: no such file", path);
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    fail<Hdf5Error>("{}: not an HDF5 file (truncated or corrupt?)", path);
  }
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    fail<Hdf5Error>("{}: cannot open HDF5 file (truncated or corrupt?)", path);
  }
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
      std::string name(STRIDE_H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                                          H5P_DEFAULT)),
                       '\0');
      STRIDE_H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                                         H5P_DEFAULT));
      names.push_back(std::move(name));
      continue;
    }
    std::string name(static_cast<size_t>(size), '\0');
    STRIDE_H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, name.data(), name.size() + 1,
                                       H5P_DEFAULT));
    names.push_back(std::move(name));
  }
  return names;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  Datatype type = string_type();
  Dataspace space(STRIDE_H5_CHECK(H5Screate(H5S_SCALAR)));
  Attribute attribute = recreate_attribute(object, name, type.get(), space.get());
  const char* pointer = value.c_str();
  STRIDE_H5_CHECK(H5Awrite(attribute.get(), type.get(), &pointer));
}

void write_attribute(hid_t object, const std::string& name, int64_t value) {
  write_numeric_attribute<int64_t>(object, name, std::span<const int64_t>(&value, 1), true);
}

void write_attribute(hid_t object, const std::string& name, double value) {
  write_numeric_attribute<double>(object, name, std::span<const double>(&value, 1), true);
}

void write_attribute(hid_t object, const std::string& name, std::span<const std::string> values) {
  Datatype type = string_type();
  const hsize_t count = values.size();
  Dataspace space(STRIDE_H5_CHECK(H5Screate_simple(1, &count, nullptr)));
  Attribute attribute = recreate_attribute(object, name, type.get(), space.get());
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  STRIDE_H5_CHECK(H5Awrite(attribute.get(), type.get(), pointers.data()));
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
  const auto count = static_cast<size_t>(attribute_elements(attribute.get()));
  std::vector<std::string> values;
  if (STRIDE_H5_CHECK(H5Tis_variable_str(stored.get())) > 0) {
    Datatype type = string_type();
    std::vector<char*> pointers(count, nullptr);
    STRIDE_H5_CHECK(H5Aread(attribute.get(), type.get(), pointers.data()));
    for (char* p : pointers) values.emplace_back(p ? p : "");
    Dataspace space(STRIDE_H5_CHECK(H5Aget_space(attribute.get())));
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
  } else {
    // Fixed-length strings (as numpy's 'S' dtype writes them).
    const size_t width = H5Tget_size(stored.get());
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
  return Dataset(STRIDE_H5_CHECK(H5Dcreate2(location, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                                            properties.get(), H5P_DEFAULT)));
}

Dataset open_dataset(hid_t location, const std::string& name) {
  if (!exists(location, name)) fail<Hdf5Error>("dataset '{}' is missing", name);
  return Dataset(STRIDE_H5_CHECK(H5Dopen2(location, name.c_str(), H5P_DEFAULT)));
}

std::vector<hsize_t> dataset_dims(hid_t dataset) {
  Dataspace space(STRIDE_H5_CHECK(H5Dget_space(dataset)));
  const int rank = static_cast<int>(STRIDE_H5_CHECK(H5Sget_simple_extent_ndims(space.get())));
  std::vector<hsize_t> dims(rank);
  STRIDE_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return dims;
}

bool dataset_has_type(hid_t dataset, hid_t expected_native_type) {
  Datatype stored(STRIDE_H5_CHECK(H5Dget_type(dataset)));
  return H5Tget_class(stored.get()) == H5Tget_class(expected_native_type) &&
         H5Tget_size(stored.get()) == H5Tget_size(expected_native_type) &&
         (H5Tget_class(stored.get()) != H5T_INTEGER ||
          H5Tget_sign(stored.get()) == H5Tget_sign(expected_native_type));
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
  const std::vector<hsize_t> shape = dataset_dims(dataset.get());
  size_t count = 1;
  for (hsize_t d : shape) count *= d;
  std::vector<T> values(count);
  if (count > 0)
    STRIDE_H5_CHECK(H5Dread(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  if (dims) *dims = shape;
  return values;
}

#define STRIDE_H5_INSTANTIATE(T)                                                                          \
  template Dataset create_dataset<T>(hid_t, const std::string&, std::span<const hsize_t>,                \
                                     const DatasetOptions&);                                              \
  template void write_rows<T>(hid_t, hsize_t, hsize_t, const T*);                                         \
  template void read_rows<T>(hid_t, hsize_t, hsize_t, T*);                                                \
  template void write_dataset<T>(hid_t, const std::string&, std::span<const hsize_t>, const T*,          \
                                 const DatasetOptions&);                                                  \
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
