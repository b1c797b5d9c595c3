// Checkpoint files: HDF5 groups per layer, JSON attributes, atomic replace.
// A save takes its disk space first, writes under a temporary name, seals the
// file with its SHA-256 and renames it; every open checks the seal before HDF5
// reads a byte, and every HDF5 error leaves here naming the file.
#include "stride/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "checkpoint_file.h"
#include "stride/common/error.h"
#include "stride/common/h5.h"
#include "stride/common/strings.h"

namespace stride {
namespace {

constexpr const char* kFormat = "stride-checkpoint";
constexpr int64_t kVersion = 1;

// Opens (creating when asked) the groups along "a/b/c", returning the last.
h5::Group walk_groups(hid_t root, const std::vector<std::string>& parts, bool create) {
  h5::Group current = h5::open_group(root, ".");
  for (const std::string& part : parts) {
    if (h5::exists(current.get(), part))
      current = h5::open_group(current.get(), part);
    else if (create)
      current = h5::create_group(current.get(), part);
    else
      fail<CheckpointError>("group '{}' is missing", part);
  }
  return current;
}

std::vector<std::string> path_parts(const std::string& prefix, const std::string& layer, const std::string& name) {
  std::vector<std::string> parts = {prefix, layer};
  for (const auto& p : split(name, '/', true)) parts.push_back(p);
  return parts;
}

void write_tensor(hid_t root, const std::vector<std::string>& parts, Backend& backend, const Tensor& tensor) {
  std::vector<std::string> groups(parts.begin(), parts.end() - 1);
  h5::Group group = walk_groups(root, groups, true);
  std::vector<float> host(static_cast<size_t>(tensor.elements()));
  backend.copy_to_host(tensor, host.data());
  std::vector<hsize_t> dims;
  for (int i = 0; i < tensor.shape().rank(); ++i) dims.push_back(static_cast<hsize_t>(tensor.shape()[i]));
  h5::write_dataset<float>(group.get(), parts.back(), dims, host.data());
}

void read_tensor(hid_t root, const std::vector<std::string>& parts, Backend& backend, Tensor& tensor,
                 const std::string& path) {
  const std::string where = join(parts, "/");
  std::vector<std::string> groups(parts.begin(), parts.end() - 1);
  try {
    h5::Group group = walk_groups(root, groups, false);
    std::vector<hsize_t> dims;
    std::vector<float> host = h5::read_dataset<float>(group.get(), parts.back(), &dims);
    std::string stored_text = "(";
    for (size_t i = 0; i < dims.size(); ++i) stored_text += fmt::format("{}{}", i ? ", " : "", dims[i]);
    stored_text += ")";
    bool same = static_cast<int>(dims.size()) == tensor.shape().rank();
    for (size_t i = 0; same && i < dims.size(); ++i)
      same = static_cast<int64_t>(dims[i]) == tensor.shape()[static_cast<int>(i)];
    if (!same)
      fail<CheckpointError>("{}: '{}' has shape {} in the file but {} in the model", path, where, stored_text,
                            tensor.shape().str());
    backend.copy_from_host(host.data(), tensor);
  } catch (const Hdf5Error& e) {
    fail<CheckpointError>("{}: cannot read '{}': {}", path, where, e.what());
  } catch (const CheckpointError& e) {
    if (std::string(e.what()).find(path) == 0) throw;
    fail<CheckpointError>("{}: cannot read '{}': {}", path, where, e.what());
  }
}

// Runs body; an HDF5 error in it becomes a CheckpointError that names the file.
template <typename Body>
auto naming_file(const std::string& path, Body&& body) {
  try {
    return body();
  } catch (const Hdf5Error& e) {
    const std::string message = e.what();
    if (message.rfind(path, 0) == 0) throw CheckpointError(message);
    fail<CheckpointError>("{}: {}", path, message);
  } catch (const nlohmann::json::exception& e) {  // an attribute of the wrong JSON shape
    fail<CheckpointError>("{}: not a readable checkpoint: {}", path, e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    fail<CheckpointError>("{}: {}", path, e.code().message());
  }
}

h5::File open_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) fail<CheckpointError>("{}: no such checkpoint", path);
  checkpoint_file::verify(path);
  try {
    h5::File file = h5::open_file(path);
    if (!h5::has_attribute(file.get(), "format") || h5::read_string_attribute(file.get(), "format") != kFormat)
      fail<CheckpointError>("{}: not a Stride checkpoint (no format=\"{}\" attribute)", path, kFormat);
    const int64_t version = h5::read_int_attribute(file.get(), "version");
    if (version > kVersion)
      fail<CheckpointError>("{}: checkpoint version {} is newer than this build reads ({})", path, version, kVersion);
    return file;
  } catch (const Hdf5Error& e) {
    fail<CheckpointError>("{}: {}", path, e.what());
  }
}

nlohmann::json parse_json_attribute(hid_t file, const std::string& name, const std::string& path) {
  try {
    return nlohmann::json::parse(h5::read_string_attribute(file, name));
  } catch (const nlohmann::json::exception& e) {
    fail<CheckpointError>("{}: attribute '{}' is not valid JSON: {}", path, name, e.what());
  }
}

}  // namespace

nlohmann::json ModelConfig::to_json() const {
  std::vector<int64_t> shape;
  for (int i = 0; i < input.rank(); ++i) shape.push_back(input[i]);
  return {{"spec", spec},           {"input_shape", shape}, {"classes", classes}, {"class_names", class_names},
          {"normalize", normalize}, {"mean", mean},         {"std", std},         {"source", source}};
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& where) {
  try {
    ModelConfig c;
    c.spec = j.at("spec").get<std::string>();
    const auto shape = j.at("input_shape").get<std::vector<int64_t>>();
    if (shape.size() != 3 && shape.size() != 1) fail<CheckpointError>("{}: input_shape must have 1 or 3 dims", where);
    c.input = shape.size() == 3 ? Shape{shape[0], shape[1], shape[2]} : Shape{shape[0]};
    c.classes = j.at("classes").get<int64_t>();
    c.class_names = j.value("class_names", std::vector<std::string>{});
    c.normalize = j.value("normalize", true);
    c.mean = j.value("mean", std::vector<double>{});
    c.std = j.value("std", std::vector<double>{});
    c.source = j.value("source", std::string{});
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail<CheckpointError>("{}: model_config: {}", where, e.what());
  }
}

nlohmann::json TrainingState::to_json() const {
  return {{"epoch", epoch}, {"global_step", global_step}, {"callbacks", callbacks}, {"extra", extra}};
}

TrainingState TrainingState::from_json(const nlohmann::json& j) {
  TrainingState s;
  s.epoch = j.value("epoch", int64_t{0});
  s.global_step = j.value("global_step", int64_t{0});
  s.callbacks = j.value("callbacks", nlohmann::json::object());
  s.extra = j.value("extra", nlohmann::json::object());
  return s;
}

namespace {

// An upper bound of a checkpoint's size: its tensors, JSON and HDF5's metadata.
uint64_t size_bound(const std::vector<std::string>& texts, Model& model, Optimizer* optimizer,
                    const std::vector<StateEntry>* best) {
  constexpr uint64_t kFixed = 64 << 10, kPerTensor = 8 << 10;
  uint64_t bytes = kFixed;
  for (const std::string& t : texts) bytes += 2 * t.size();
  const auto add = [&](const Tensor& t) { bytes += kPerTensor + static_cast<uint64_t>(t.elements()) * sizeof(float); };
  for (const StateEntry& e : model.state()) add(*e.tensor);
  if (optimizer)
    for (const SlotEntry& s : optimizer->slots()) add(*s.tensor);
  if (best)
    for (const StateEntry& e : *best) add(*e.tensor);
  return bytes;
}

// Makes a rename into `directory` durable; a failure only weakens durability.
void sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] const int synced = ::fsync(fd);
  ::close(fd);
}

}  // namespace

int remove_stale_checkpoint_temporaries(const std::string& directory) {
  return checkpoint_file::remove_stale_temporaries(directory);
}

void save_checkpoint(const std::string& path, const ModelConfig& config, Model& model, Optimizer* optimizer,
                     const TrainingState* state, const std::vector<StateEntry>* best) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  checkpoint_file::remove_stale_temporaries(target.parent_path().string());
  const std::string temporary = checkpoint_file::temporary_name(path);
  const std::string model_json = config.to_json().dump();
  const std::string state_json = state ? state->to_json().dump() : std::string();
  try {
    {
      h5::CreateOptions options;
      options.reserve_bytes = size_bound({model_json, state_json}, model, optimizer, best);
      options.userblock = checkpoint_file::kUserblockBytes;
      h5::File file = h5::create_file(temporary, options);
      h5::write_attribute(file.get(), "format", std::string(kFormat));
      h5::write_attribute(file.get(), "version", kVersion);
      h5::write_attribute(file.get(), "model_config", model_json);
      if (state) h5::write_attribute(file.get(), "training_state", state_json);
      Backend& backend = model.backend();
      for (const StateEntry& e : model.state())
        write_tensor(file.get(), path_parts("model", e.layer, e.name), backend, *e.tensor);
      if (optimizer) {
        h5::Group group = h5::create_group(file.get(), "optimizer");
        h5::write_attribute(group.get(), "kind", optimizer->config().kind);
        h5::write_attribute(group.get(), "steps", optimizer->steps());
        for (const SlotEntry& s : optimizer->slots()) {
          auto parts = path_parts("optimizer", s.layer, s.parameter);
          parts.push_back(s.slot);
          write_tensor(file.get(), parts, backend, *s.tensor);
        }
      }
      if (best)
        for (const StateEntry& e : *best)
          write_tensor(file.get(), path_parts("best", e.layer, e.name), backend, *e.tensor);
      h5::close_file(file, temporary);
    }
    checkpoint_file::seal(temporary, path);
    std::filesystem::rename(temporary, target);
    sync_directory(target.parent_path());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    try {
      throw;
    } catch (const Hdf5Error& e) {
      fail<CheckpointError>("cannot save checkpoint {}: {}", path, e.what());
    } catch (const std::filesystem::filesystem_error& e) {
      fail<CheckpointError>("cannot save checkpoint {}: {}", path, e.code().message());
    }
  }
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return naming_file(path, [&] {
    h5::File file = open_checkpoint(path);
    CheckpointInfo info;
    info.model = ModelConfig::from_json(parse_json_attribute(file.get(), "model_config", path), path);
    if (h5::has_attribute(file.get(), "training_state"))
      info.state = TrainingState::from_json(parse_json_attribute(file.get(), "training_state", path));
    info.has_optimizer = h5::exists(file.get(), "optimizer");
    info.has_best = h5::exists(file.get(), "best");
    return info;
  });
}

void load_model_state(const std::string& path, Model& model, int64_t layers) {
  naming_file(path, [&] {
    h5::File file = open_checkpoint(path);
    Backend& backend = model.backend();
    const auto limit = layers < 0 ? model.size() : static_cast<size_t>(layers);
    for (const StateEntry& e : model.state()) {
      const size_t index = static_cast<size_t>(parse_int(e.layer.substr(0, e.layer.find('_')), "layer"));
      if (index >= limit) continue;
      read_tensor(file.get(), path_parts("model", e.layer, e.name), backend, *e.tensor, path);
    }
  });
}

void load_optimizer_state(const std::string& path, Optimizer& optimizer) {
  naming_file(path, [&] {
    h5::File file = open_checkpoint(path);
    if (!h5::exists(file.get(), "optimizer")) fail<CheckpointError>("{}: holds no optimizer state", path);
    h5::Group group = h5::open_group(file.get(), "optimizer");
    const std::string kind = h5::read_string_attribute(group.get(), "kind");
    if (kind != optimizer.config().kind)
      fail<CheckpointError>("{}: optimizer state is for '{}', the config asks for '{}'", path, kind,
                            optimizer.config().kind);
    optimizer.set_steps(h5::read_int_attribute(group.get(), "steps"));
    // Tensors come from the model's backend; any slot knows it through the optimizer.
    for (const SlotEntry& s : optimizer.slots()) {
      auto parts = path_parts("optimizer", s.layer, s.parameter);
      parts.push_back(s.slot);
      read_tensor(file.get(), parts, optimizer.backend(), *s.tensor, path);
    }
  });
}

void load_best_state(const std::string& path, Backend& backend, std::vector<StateEntry>& best) {
  naming_file(path, [&] {
    h5::File file = open_checkpoint(path);
    if (!h5::exists(file.get(), "best")) fail<CheckpointError>("{}: holds no best weights", path);
    for (StateEntry& e : best) read_tensor(file.get(), path_parts("best", e.layer, e.name), backend, *e.tensor, path);
  });
}

}  // namespace stride
