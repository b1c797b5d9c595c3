// The experiment config: an INI file (DESIGN.md §5) read with
// Boost.Program_options, checked against one schema of known sections and
// keys, with `--set section.key=value` overrides on top. Every value is kept
// as text and parsed on use, so an error names the key and the file (or the
// override) it came from. [grid] lines name other keys and list their values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stride/tracker/params.h"

namespace stride::tools {

// name: text that becomes a path component (check_path_component).
enum class ValueKind { text, name, integer, real, boolean };

// The values a numeric key accepts: low..high, each end open or closed.
struct Bounds {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;
  bool high_open = false;

  bool contains(double value) const {
    return (low_open ? value > low : value >= low) && (high_open ? value < high : value <= high);
  }
  // ">= 1", "> 0", "in [0, 1)"
  std::string describe() const;
};

struct KeySpec {
  std::string_view key;  // "train.lr"
  std::string_view default_value;
  ValueKind kind;
  std::string_view help;
  Bounds bounds = {};
  // An environment variable that sets the key (below --set, above the file).
  std::string_view environment = {};
};

// Every key a config may set, with its default ("" = unset): config_schema.cpp.
std::span<const KeySpec> config_schema();

struct GridAxis {
  std::string key;                  // "train.lr"
  std::vector<std::string> values;  // as written
};

class Config {
 public:
  // Reads `file`, then the keys' environment variables, then applies
  // overrides ("section.key=value"): a key's value comes from --set, else its
  // environment variable, else the file, else its default. Unknown sections
  // or keys and malformed or out-of-range values are ConfigError naming the
  // file (or the variable, or "--set"), the key and the value, with the
  // closest known key suggested.
  static Config load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});
  static Config from_text(std::string_view text, std::string_view origin);

  // Sets one key (validated); `origin` names where the value came from.
  void set(const std::string& key, const std::string& value, std::string_view origin);
  // "section.key=value"; "grid.pruner=asha" and "grid.train.lr=0.001,0.01" set [grid] lines.
  void apply_override(const std::string& assignment);

  bool has(const std::string& key) const;  // set to a non-empty value
  const std::string& text(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::string origin(const std::string& key) const;

  const std::vector<GridAxis>& grid() const { return grid_; }
  const std::map<std::string, std::string>& grid_options() const { return grid_options_; }
  const std::filesystem::path& file() const { return file_; }

  // The resolved config as INI text (every key that differs from its default
  // or is always worth recording), reproducible: `stride train` on it reruns the trial.
  std::string to_ini() const;
  // Every resolved key (defaults included, unset keys not) with its typed
  // value: what the store records with a trial.
  tracker::Params params() const;
  // What identifies a trial (its parameter hash): the keys that differ from
  // their defaults plus a few always kept, without the operational ones
  // (threads, workers, checkpoint_dir, ...) that change how it runs, not what.
  tracker::Params identity_params() const;

 private:
  void check_value(const std::string& key, const std::string& value, std::string_view origin) const;
  void set_grid(const std::string& name, const std::string& value, std::string_view origin);
  tracker::ParamValue typed(const KeySpec& spec) const;

  std::filesystem::path file_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> origins_;
  std::vector<GridAxis> grid_;
  std::map<std::string, std::string> grid_options_;  // grid.pruner, grid.metric, ...
};

// Splits a grid value list "0.001, 0.003" (commas outside parentheses, so layer
// specs with arguments stay whole) into trimmed values.
std::vector<std::string> split_grid_values(std::string_view text);

}  // namespace stride::tools
