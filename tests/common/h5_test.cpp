// The HDF5 layer: round trips of datasets and attributes, clear errors on bad files.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>

#include "stride/common/h5.h"
#include "temp_dir.h"

namespace stride {
namespace {

TEST(H5, DatasetRowsAndAttributesRoundTrip) {
  testing::TempDir dir;
  const std::string path = (dir / "t.h5").string();
  {
    h5::File file = h5::create_file(path);
    const std::vector<hsize_t> dims = {10, 3};
    h5::DatasetOptions options;
    options.chunk = {4, 3};
    options.gzip_level = 4;
    options.shuffle = true;
    h5::Dataset ds = h5::create_dataset<int32_t>(file.get(), "values", dims, options);
    std::vector<int32_t> rows(30);
    std::iota(rows.begin(), rows.end(), 0);
    h5::write_rows(ds.get(), 0, 6, rows.data());
    h5::write_rows(ds.get(), 6, 4, rows.data() + 18);
    const std::vector<std::string> names = {"t-shirt", "trouser", "naïve"};
    h5::write_attribute(file.get(), "class_names", names);
    h5::write_attribute(file.get(), "version", int64_t{3});
    h5::write_attribute(file.get(), "scale", 0.5);
    h5::write_attribute(ds.get(), "split", std::string("train"));
  }
  h5::File file = h5::open_file(path);
  h5::Dataset ds = h5::open_dataset(file.get(), "values");
  EXPECT_EQ(h5::dataset_dims(ds.get()), (std::vector<hsize_t>{10, 3}));
  EXPECT_TRUE(h5::dataset_has_type(ds.get(), H5T_NATIVE_INT32));
  EXPECT_FALSE(h5::dataset_has_type(ds.get(), H5T_NATIVE_UINT8));
  std::vector<int32_t> middle(6);
  h5::read_rows(ds.get(), 4, 2, middle.data());
  EXPECT_EQ(middle, (std::vector<int32_t>{12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(h5::read_string_list_attribute(file.get(), "class_names"),
            (std::vector<std::string>{"t-shirt", "trouser", "naïve"}));
  EXPECT_EQ(h5::read_int_attribute(file.get(), "version"), 3);
  EXPECT_DOUBLE_EQ(h5::read_double_attribute(file.get(), "scale"), 0.5);
  EXPECT_EQ(h5::read_string_attribute(ds.get(), "split"), "train");
  EXPECT_THROW(h5::read_rows(ds.get(), 9, 2, middle.data()), Hdf5Error);
}

TEST(H5, BadFilesAreNamedInErrors) {
  testing::TempDir dir;
  const std::string missing = (dir / "missing.h5").string();
  const std::string text = (dir / "text.h5").string();
  std::ofstream(text) << "not hdf5";
  try {
    h5::open_file(missing);
    FAIL();
  } catch (const Hdf5Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  try {
    h5::open_file(text);
    FAIL();
  } catch (const Hdf5Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos);
  }
  h5::File file = h5::create_file((dir / "ok.h5").string());
  EXPECT_THROW(h5::open_dataset(file.get(), "images"), Hdf5Error);
  EXPECT_THROW(h5::read_string_attribute(file.get(), "format"), Hdf5Error);
}

}  // namespace
}  // namespace stride
