// IDX files (MNIST, Fashion-MNIST) through zlib's gz reader, which reads plain
// and gzipped files alike. The header is trusted only as far as the data goes:
// a short read is reported as truncation, a zlib error as corrupt gzip data,
// and the pixel buffer grows with what actually arrives, so a header claiming
// billions of images cannot make us allocate them.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "stride/common/error.h"
#include "stride/common/handle.h"
#include "stride/data/importers.h"

namespace stride::data {
namespace {

struct GzTraits {
  static gzFile invalid() noexcept { return nullptr; }
  static void close(gzFile file) noexcept { gzclose(file); }
};
using GzFile = UniqueHandle<gzFile, GzTraits>;

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;

class IdxReader {
 public:
  explicit IdxReader(std::filesystem::path path) : path_(std::move(path)) {
    if (!std::filesystem::is_regular_file(path_)) fail<DataError>("{}: no such file", path_.string());
    file_ = GzFile(gzopen(path_.c_str(), "rb"));
    if (!file_) fail<DataError>("{}: cannot open", path_.string());
    gzbuffer(file_.get(), 1 << 17);
  }

  // Reads up to `bytes`; returns how many arrived. Throws on gzip errors.
  size_t read_some(void* out, size_t bytes) {
    size_t done = 0;
    while (done < bytes) {
      const unsigned piece = static_cast<unsigned>(std::min<size_t>(bytes - done, 1u << 30));
      const int got = gzread(file_.get(), static_cast<char*>(out) + done, piece);
      if (got < 0) throw_gzip_error();
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    if (done < bytes) check_clean_end();
    return done;
  }

  uint32_t read_u32(const char* what) {
    std::array<unsigned char, 4> b{};
    if (read_some(b.data(), 4) != 4) fail<DataError>("{}: truncated header (no {})", path_.string(), what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

  // After the declared data: nothing may follow.
  void expect_end() {
    char extra;
    if (read_some(&extra, 1) != 0) fail<DataError>("{}: data continues past what the header declares", path_.string());
  }

  std::string path() const { return path_.string(); }

 private:
  void check_clean_end() {
    int code = Z_OK;
    const char* message = gzerror(file_.get(), &code);
    if (code == Z_BUF_ERROR) fail<DataError>("{}: truncated gzip stream ({})", path_.string(), message);
    if (code != Z_OK) throw_gzip_error();
  }
  [[noreturn]] void throw_gzip_error() {
    int code = Z_OK;
    const char* message = gzerror(file_.get(), &code);
    if (code == Z_ERRNO) fail<DataError>("{}: read error ({})", path_.string(), std::strerror(errno));
    fail<DataError>("{}: corrupt gzip data ({})", path_.string(), message ? message : "zlib error");
  }

  std::filesystem::path path_;
  GzFile file_;
};

// Reads `count` records of `record` bytes, growing `out` as data arrives.
void read_records(IdxReader& reader, int64_t count, int64_t record, std::vector<uint8_t>& out, const char* what) {
  if (count > std::numeric_limits<int64_t>::max() / record)
    fail<DataError>("{}: the header declares {} {} of {} bytes, more than any file holds", reader.path(), count, what,
                    record);
  const int64_t total = count * record;
  out.clear();
  out.reserve(static_cast<size_t>(std::min<int64_t>(total, int64_t{64} << 20)));
  constexpr int64_t kPiece = int64_t{4} << 20;
  for (int64_t done = 0; done < total;) {
    const int64_t piece = std::min(kPiece, total - done);
    out.resize(static_cast<size_t>(done + piece));
    const size_t got = reader.read_some(out.data() + done, static_cast<size_t>(piece));
    done += static_cast<int64_t>(got);
    if (got < static_cast<size_t>(piece))
      fail<DataError>("{}: the header declares {} {} but the data ends after {}", reader.path(), count, what,
                      done / record);
  }
  reader.expect_end();
}

std::filesystem::path find_idx(const std::filesystem::path& dir, const std::string& stem) {
  // Both "train-images-idx3-ubyte" and the "train-images.idx3-ubyte" some mirrors use.
  std::string dotted = stem;
  dotted[dotted.rfind('-', dotted.find("idx"))] = '.';
  for (const std::string& name : {stem, stem + ".gz", dotted, dotted + ".gz"}) {
    const auto path = dir / name;
    if (std::filesystem::is_regular_file(path)) return path;
  }
  fail<DataError>("{}: no {}[.gz] here", dir.string(), stem);
}

}  // namespace

void ImageSet::read(int64_t index, uint8_t* out) const {
  const int64_t bytes = image_shape.bytes();
  std::memcpy(out, pixels.data() + index * bytes, static_cast<size_t>(bytes));
}

ImageSet read_idx(const std::filesystem::path& images, const std::filesystem::path& labels, int64_t num_classes) {
  ImageSet set;
  IdxReader image_reader(images);
  const uint32_t image_magic = image_reader.read_u32("magic number");
  if (image_magic != kImageMagic)
    fail<DataError>("{}: magic {:#010x} is not an IDX image file ({:#010x})", images.string(), image_magic,
                    kImageMagic);
  const int64_t count = image_reader.read_u32("image count");
  const int64_t rows = image_reader.read_u32("row count");
  const int64_t cols = image_reader.read_u32("column count");
  if (count == 0) fail<DataError>("{}: holds no images", images.string());
  if (rows == 0 || cols == 0 || rows > 65536 || cols > 65536)
    fail<DataError>("{}: implausible image size {}x{}", images.string(), rows, cols);

  IdxReader label_reader(labels);
  const uint32_t label_magic = label_reader.read_u32("magic number");
  if (label_magic != kLabelMagic)
    fail<DataError>("{}: magic {:#010x} is not an IDX label file ({:#010x})", labels.string(), label_magic,
                    kLabelMagic);
  const int64_t label_count = label_reader.read_u32("label count");
  if (label_count != count)
    fail<DataError>("{}: {} labels but {} holds {} images", labels.string(), label_count, images.string(), count);

  set.image_shape = {rows, cols, 1};
  read_records(image_reader, count, rows * cols, set.pixels, "images");
  std::vector<uint8_t> raw_labels;
  read_records(label_reader, count, 1, raw_labels, "labels");
  set.labels.resize(raw_labels.size());
  for (size_t i = 0; i < raw_labels.size(); ++i) {
    if (raw_labels[i] >= num_classes)
      fail<DataError>("{}: label {} at index {} is out of range [0, {})", labels.string(), raw_labels[i], i,
                      num_classes);
    set.labels[i] = raw_labels[i];
  }
  return set;
}

ImportedSource import_mnist(const std::filesystem::path& dir, bool fashion) {
  if (!std::filesystem::is_directory(dir)) fail<DataError>("{}: not a directory", dir.string());
  ImportedSource source;
  source.source = fashion ? "fashion-mnist" : "mnist";
  if (fashion) {
    source.class_names = fashion_mnist_class_names();
  } else {
    for (int digit = 0; digit < 10; ++digit) source.class_names.push_back(std::to_string(digit));
  }
  const auto classes = static_cast<int64_t>(source.class_names.size());
  // Looked up one by one, so a missing file is reported in a fixed order.
  const auto train_images = find_idx(dir, "train-images-idx3-ubyte");
  const auto train_labels = find_idx(dir, "train-labels-idx1-ubyte");
  const auto test_images = find_idx(dir, "t10k-images-idx3-ubyte");
  const auto test_labels = find_idx(dir, "t10k-labels-idx1-ubyte");
  auto train = std::make_unique<ImageSet>(read_idx(train_images, train_labels, classes));
  auto test = std::make_unique<ImageSet>(read_idx(test_images, test_labels, classes));
  if (!(train->image_shape == test->image_shape))
    fail<DataError>("{}: train images are {}x{} but test images are {}x{}", dir.string(), train->image_shape.height,
                    train->image_shape.width, test->image_shape.height, test->image_shape.width);
  source.train = std::move(train);
  source.test = std::move(test);
  return source;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace stride::data
