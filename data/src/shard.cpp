// Shard files: streaming writer and validating reader over the h5 layer.
// Appending whole chunks at a time (as the preparer does) keeps gzip from
// re-reading partly written chunks. The reader opens `images` with the
// HDF5 chunk cache off: the loader reads whole chunks once per epoch, and a
// cache would only hold memory it cannot account for. The writer takes the
// shard's disk space before writing (a full disk fails there, cleanly); the
// reader checks every size against the file before reading.
#include "stride/data/shard.h"

#include <algorithm>
#include <cstring>

#include "stride/common/error.h"

namespace stride::data {
namespace {

// HDF5 errors surface as DataError starting with the shard's path.
[[noreturn]] void rethrow_for(const std::string& path, const Hdf5Error& e) {
  const std::string message = e.what();
  if (message.rfind(path, 0) == 0) throw DataError(message);
  fail<DataError>("{}: {}", path, message);
}

h5::Dataset open_uncached(hid_t file, const std::string& name) {
  if (!h5::exists(file, name)) throw DataError("dataset '" + name + "' is missing");
  h5::PropertyList access(STRIDE_H5_CHECK(H5Pcreate(H5P_DATASET_ACCESS)));
  STRIDE_H5_CHECK(H5Pset_chunk_cache(access.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT));
  return h5::Dataset(STRIDE_H5_CHECK(H5Dopen2(file, name.c_str(), access.get())));
}

int64_t chunk_rows(hid_t dataset, int64_t rows) {
  h5::PropertyList create(STRIDE_H5_CHECK(H5Dget_create_plist(dataset)));
  if (H5Pget_layout(create.get()) != H5D_CHUNKED) return rows;
  hsize_t dims[4] = {0, 0, 0, 0};
  STRIDE_H5_CHECK(H5Pget_chunk(create.get(), 4, dims));
  return static_cast<int64_t>(dims[0]);
}

// An upper bound of a shard's size: pixels and labels stored raw (gzip only
// shrinks them, up to a few bytes per chunk), attributes, and HDF5's metadata.
uint64_t size_bound(int64_t count, ImageShape shape, const ShardMeta& meta, int64_t chunk) {
  constexpr uint64_t kFixed = 64 << 10, kPerChunk = 256;
  uint64_t names = 0;
  size_t widest = 1;
  for (const std::string& n : meta.class_names) widest = std::max(widest, n.size());
  names = widest * meta.class_names.size();
  const auto images = static_cast<uint64_t>(count);
  const uint64_t chunks = (images + static_cast<uint64_t>(chunk) - 1) / static_cast<uint64_t>(chunk);
  return kFixed + images * (static_cast<uint64_t>(shape.bytes()) + sizeof(int32_t)) + 2 * chunks * kPerChunk +
         2 * (names + meta.split.size() + meta.source.size());
}

}  // namespace

ShardWriter::ShardWriter(std::string path, int64_t count, ImageShape shape, const ShardMeta& meta,
                         const ShardWriteOptions& options)
    : path_(std::move(path)), count_(count), shape_(shape) {
  if (count <= 0) fail<DataError>("{}: a shard needs at least one image", path_);
  try {
    const hsize_t chunk = static_cast<hsize_t>(std::clamp<int64_t>(options.chunk_images, 1, count));
    h5::CreateOptions create;
    create.reserve_bytes = size_bound(count, shape, meta, static_cast<int64_t>(chunk));
    file_ = h5::create_file(path_, create);
    h5::DatasetOptions dataset_options;
    dataset_options.gzip_level = options.gzip ? 4 : 0;
    dataset_options.shuffle = options.gzip;
    dataset_options.chunk = {chunk, static_cast<hsize_t>(shape.height), static_cast<hsize_t>(shape.width),
                             static_cast<hsize_t>(shape.channels)};
    const std::vector<hsize_t> image_dims = {static_cast<hsize_t>(count), dataset_options.chunk[1],
                                             dataset_options.chunk[2], dataset_options.chunk[3]};
    images_ = h5::create_dataset<uint8_t>(file_.get(), "images", image_dims, dataset_options);
    dataset_options.chunk = {chunk};
    const std::vector<hsize_t> label_dims = {static_cast<hsize_t>(count)};
    labels_ = h5::create_dataset<int32_t>(file_.get(), "labels", label_dims, dataset_options);
    h5::write_attribute(file_.get(), "format", std::string(kShardFormat));
    h5::write_attribute(file_.get(), "version", kShardVersion);
    h5::write_attribute(file_.get(), "split", meta.split);
    h5::write_attribute(file_.get(), "source", meta.source);
    h5::write_attribute(file_.get(), "num_classes", static_cast<int64_t>(meta.class_names.size()));
    h5::write_attribute(file_.get(), "class_names", std::span<const std::string>(meta.class_names));
  } catch (const Hdf5Error& e) {
    rethrow_for(path_, e);
  }
}

void ShardWriter::append(const uint8_t* images, const int32_t* labels, int64_t count) {
  if (written_ + count > count_)
    fail<DataError>("{}: {} images appended to a shard of {}", path_, written_ + count, count_);
  try {
    h5::write_rows(images_.get(), written_, count, images);
    h5::write_rows(labels_.get(), written_, count, labels);
  } catch (const Hdf5Error& e) {
    rethrow_for(path_, e);
  }
  written_ += count;
}

void ShardWriter::close() {
  if (written_ != count_) fail<DataError>("{}: {} of {} images written", path_, written_, count_);
  images_.reset();
  labels_.reset();
  try {
    h5::close_file(file_, path_);
  } catch (const Hdf5Error& e) {
    rethrow_for(path_, e);
  }
}

ShardReader::ShardReader(std::string path, ImageShape expected) : path_(std::move(path)) {
  try {
    file_ = h5::open_file(path_);
    if (!h5::has_attribute(file_.get(), "format"))
      fail<DataError>("{}: no 'format' attribute (not a Stride shard)", path_);
    const std::string format = h5::read_string_attribute(file_.get(), "format");
    if (format != kShardFormat)
      fail<DataError>("{}: attribute 'format' is \"{}\", expected \"{}\"", path_, format, kShardFormat);
    if (h5::has_attribute(file_.get(), "version") && h5::read_int_attribute(file_.get(), "version") > kShardVersion)
      fail<DataError>("{}: shard version {} is newer than this build reads ({})", path_,
                      h5::read_int_attribute(file_.get(), "version"), kShardVersion);
    if (h5::has_attribute(file_.get(), "split")) split_ = h5::read_string_attribute(file_.get(), "split");
    if (h5::has_attribute(file_.get(), "class_names"))
      class_names_ = h5::read_string_list_attribute(file_.get(), "class_names");

    try {
      images_ = open_uncached(file_.get(), "images");
      labels_ = open_uncached(file_.get(), "labels");
    } catch (const DataError& e) {
      fail<DataError>("{}: {}", path_, e.what());
    }
    if (!h5::dataset_has_type(images_.get(), H5T_NATIVE_UINT8))
      fail<DataError>("{}: dataset 'images' is not uint8", path_);
    if (!h5::dataset_has_type(labels_.get(), H5T_NATIVE_INT32))
      fail<DataError>("{}: dataset 'labels' is not int32", path_);
    const auto dims = h5::dataset_dims(images_.get());
    if (dims.size() != 4) fail<DataError>("{}: dataset 'images' has rank {}, expected 4 [N,H,W,C]", path_, dims.size());
    const auto label_dims = h5::dataset_dims(labels_.get());
    if (label_dims.size() != 1)
      fail<DataError>("{}: dataset 'labels' has rank {}, expected 1 [N]", path_, label_dims.size());
    h5::check_dataset_fits(images_.get(), "images", 1);
    h5::check_dataset_fits(labels_.get(), "labels", sizeof(int32_t));
    if (dims[3] != 1 && dims[3] != 3)
      fail<DataError>("{}: dataset 'images' has {} channels, expected 1 or 3", path_, dims[3]);
    size_ = static_cast<int64_t>(dims[0]);
    shape_ = {static_cast<int64_t>(dims[1]), static_cast<int64_t>(dims[2]), static_cast<int64_t>(dims[3])};
    if (static_cast<int64_t>(label_dims[0]) != size_)
      fail<DataError>("{}: {} labels for {} images", path_, label_dims[0], size_);
    if (expected != ImageShape{} && shape_ != expected)
      fail<DataError>("{}: images are {}x{}x{}, the manifest says {}x{}x{}", path_, shape_.height, shape_.width,
                      shape_.channels, expected.height, expected.width, expected.channels);
    chunk_images_ = std::max<int64_t>(1, chunk_rows(images_.get(), size_));
  } catch (const Hdf5Error& e) {
    rethrow_for(path_, e);
  }
}

void ShardReader::read(int64_t first, int64_t count, uint8_t* images, int32_t* labels) const {
  if (first < 0 || count < 0 || first + count > size_)
    fail<DataError>("{}: rows [{}, {}) outside a shard of {}", path_, first, first + count, size_);
  try {
    if (images) h5::read_rows(images_.get(), first, count, images);
    if (labels) h5::read_rows(labels_.get(), first, count, labels);
  } catch (const Hdf5Error& e) {
    fail<DataError>("{}: cannot read images [{}, {}): {}", path_, first, first + count, e.what());
  }
}

std::vector<int32_t> ShardReader::read_all_labels() const {
  std::vector<int32_t> labels(static_cast<size_t>(size_));
  read(0, size_, nullptr, labels.data());
  return labels;
}

}  // namespace stride::data
