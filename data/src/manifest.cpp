// manifest.json reading, validation and writing, and shard checksums. The
// validator names the manifest and the dotted key at fault ("splits.train.
// shards[2].count"), so a hand-edited or truncated manifest fails on one line.
#include "stride/data/manifest.h"

#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "stride/common/error.h"

namespace stride::data {
namespace {

using nlohmann::json;

class Validator {
 public:
  explicit Validator(std::string path) : path_(std::move(path)) {}

  const json& get(const json& object, const std::string& key, const std::string& where) const {
    if (!object.is_object()) fail<DataError>("{}: '{}' is not an object", path_, where.empty() ? "(root)" : where);
    auto it = object.find(key);
    if (it == object.end()) fail<DataError>("{}: key '{}' is missing", path_, dotted(where, key));
    return *it;
  }
  std::string string(const json& object, const std::string& key, const std::string& where) const {
    const json& value = get(object, key, where);
    if (!value.is_string()) fail<DataError>("{}: '{}' must be a string", path_, dotted(where, key));
    return value.get<std::string>();
  }
  int64_t integer(const json& object, const std::string& key, const std::string& where, int64_t minimum) const {
    const json& value = get(object, key, where);
    if (!value.is_number_integer() || value.get<int64_t>() < minimum)
      fail<DataError>("{}: '{}' must be an integer >= {} (got {})", path_, dotted(where, key), minimum, value.dump());
    return value.get<int64_t>();
  }
  const json& array(const json& object, const std::string& key, const std::string& where) const {
    const json& value = get(object, key, where);
    if (!value.is_array()) fail<DataError>("{}: '{}' must be a list", path_, dotted(where, key));
    return value;
  }
  std::vector<double> numbers(const json& object, const std::string& key, size_t count, double minimum) const {
    const json& values = array(object, key, "");
    if (values.size() != count)
      fail<DataError>("{}: '{}' must hold {} values (one per channel), got {}", path_, key, count, values.size());
    std::vector<double> out;
    for (const json& v : values) {
      if (!v.is_number() || v.get<double>() < minimum)
        fail<DataError>("{}: '{}' holds {}, expected numbers >= {}", path_, key, v.dump(), minimum);
      out.push_back(v.get<double>());
    }
    return out;
  }
  [[noreturn]] void error(const std::string& message) const { fail<DataError>("{}: {}", path_, message); }

 private:
  static std::string dotted(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }
  std::string path_;
};

// A shard file name must stay inside the dataset directory.
bool is_plain_name(const std::string& file) {
  const std::filesystem::path p(file);
  if (file.empty() || p.is_absolute()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

}  // namespace

const SplitEntry& Manifest::split(const std::string& name) const {
  auto it = splits.find(name);
  if (it == splits.end()) {
    std::string have;
    for (const auto& [key, value] : splits) have += (have.empty() ? "" : ", ") + key;
    fail<DataError>("{}: no split '{}' (it has: {})", path().string(), name, have.empty() ? "none" : have);
  }
  return it->second;
}

Manifest load_manifest(const std::filesystem::path& dir) {
  const std::string path = (dir / kManifestFile).string();
  std::ifstream in(path);
  if (!in) fail<DataError>("{}: cannot read the manifest (is '{}' a prepared dataset?)", path, dir.string());
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    fail<DataError>("{}: not valid JSON ({})", path, e.what());
  }
  const Validator v(path);
  if (v.string(root, "format", "") != kManifestFormat) v.error(fmt::format("'format' is not \"{}\"", kManifestFormat));
  const int64_t version = v.integer(root, "version", "", 1);
  if (version > kManifestVersion)
    v.error(fmt::format("version {} is newer than this build reads ({})", version, kManifestVersion));

  Manifest m;
  m.dir = dir;
  m.source = v.string(root, "source", "");
  const json& image = v.get(root, "image", "");
  m.shape.height = v.integer(image, "height", "image", 1);
  m.shape.width = v.integer(image, "width", "image", 1);
  m.shape.channels = v.integer(image, "channels", "image", 1);
  if (m.shape.channels != 1 && m.shape.channels != 3)
    v.error(fmt::format("'image.channels' must be 1 or 3 (got {})", m.shape.channels));

  for (const json& name : v.array(root, "class_names", "")) {
    if (!name.is_string()) v.error("'class_names' must hold strings");
    m.class_names.push_back(name.get<std::string>());
  }
  if (m.class_names.empty()) v.error("'class_names' is empty");
  if (root.contains("num_classes") && v.integer(root, "num_classes", "", 1) != m.num_classes())
    v.error(fmt::format("'num_classes' is {} but 'class_names' holds {}", root["num_classes"].dump(),
                        m.class_names.size()));

  const json& splits = v.get(root, "splits", "");
  if (!splits.is_object() || splits.empty()) v.error("'splits' must be a non-empty object");
  for (const auto& [name, entry] : splits.items()) {
    const std::string where = "splits." + name;
    SplitEntry split;
    split.count = v.integer(entry, "count", where, 0);
    const json& shards = v.array(entry, "shards", where);
    int64_t total = 0;
    for (size_t i = 0; i < shards.size(); ++i) {
      const std::string at = fmt::format("{}.shards[{}]", where, i);
      ShardEntry shard{v.string(shards[i], "file", at), v.integer(shards[i], "count", at, 1),
                       v.string(shards[i], "checksum", at)};
      if (!is_plain_name(shard.file)) v.error(fmt::format("'{}.file' = \"{}\" leaves the dataset", at, shard.file));
      total += shard.count;
      split.shards.push_back(std::move(shard));
    }
    if (total != split.count)
      v.error(fmt::format("'{}.count' is {} but its shards hold {}", where, split.count, total));
    m.splits.emplace(name, std::move(split));
  }
  m.mean = v.numbers(root, "mean", static_cast<size_t>(m.shape.channels), 0.0);
  m.std = v.numbers(root, "std", static_cast<size_t>(m.shape.channels), 0.0);
  return m;
}

void save_manifest(const Manifest& manifest, const std::filesystem::path& dir) {
  json splits = json::object();
  for (const auto& [name, split] : manifest.splits) {
    json shards = json::array();
    for (const auto& s : split.shards)
      shards.push_back({{"file", s.file}, {"count", s.count}, {"checksum", s.checksum}});
    splits[name] = {{"count", split.count}, {"shards", std::move(shards)}};
  }
  const json root = {
      {"format", kManifestFormat},
      {"version", kManifestVersion},
      {"source", manifest.source},
      {"image",
       {{"height", manifest.shape.height}, {"width", manifest.shape.width}, {"channels", manifest.shape.channels}}},
      {"num_classes", manifest.num_classes()},
      {"class_names", manifest.class_names},
      {"splits", std::move(splits)},
      {"mean", manifest.mean},
      {"std", manifest.std},
  };
  const std::string path = (dir / kManifestFile).string();
  std::ofstream out(path);
  out << root.dump(2) << '\n';
  out.close();
  if (!out) fail<DataError>("{}: cannot write the manifest: {}", path, errno_text(errno));
}

std::string crc32_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<DataError>("{}: cannot read the file", path.string());
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) crc = crc32_z(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<z_size_t>(got));
  }
  if (in.bad()) fail<DataError>("{}: read error", path.string());
  return fmt::format("{:08x}", static_cast<uint32_t>(crc));
}

void verify_checksums(const Manifest& manifest, const std::string& split) {
  for (const auto& [name, entry] : manifest.splits) {
    if (!split.empty() && name != split) continue;
    for (const ShardEntry& shard : entry.shards) {
      const auto path = manifest.shard_path(shard);
      if (!std::filesystem::exists(path))
        fail<DataError>("{}: shard listed in {} is missing", path.string(), manifest.path().string());
      const std::string actual = crc32_file(path);
      if (actual != shard.checksum)
        fail<DataError>("{}: checksum {} does not match {} in {} (corrupt or replaced shard)", path.string(), actual,
                        shard.checksum, manifest.path().string());
    }
  }
  if (!split.empty()) (void)manifest.split(split);
}

}  // namespace stride::data
