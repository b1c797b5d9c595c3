// Config schema and INI reading. Boost.Program_options parses the file (with
// every option unregistered, so nothing is silently dropped); the schema
// here decides what is allowed.
#include "config.h"

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride::tools {

namespace {

constexpr std::string_view kGridOptions[] = {"pruner",           "metric",          "mode",
                                             "n_startup_trials", "n_warmup_epochs", "min_epochs",
                                             "reduction_factor", "ranks_per_trial"};

// Keys that change how a run executes, not what it computes: not hyperparameters,
// so not part of a trial's identity (its parameter hash). model.input_shape
// only restates the data's shape (training refuses any other).
constexpr std::string_view kOperationalKeys[] = {"experiment.name",          "data.workers",    "data.prefetch",
                                                 "data.eval_batch_size",     "train.threads",   "train.checkpoint_dir",
                                                 "train.collective_timeout", "train.bucket_mb", "model.input_shape"};

// Part of a trial's identity even at their defaults: what anyone reading a
// leaderboard expects to tell trials apart by. Other keys count when they
// differ from their default, so a key added to the schema later leaves the
// identity of existing trials alone.
constexpr std::string_view kAlwaysRecorded[] = {"experiment.seed", "data.batch_size", "model.layers", "model.arch",
                                                "train.epochs",    "train.optimizer", "train.lr",     "train.schedule"};

// "0.90" is the default "0.9": values compare as what they mean.
bool is_default(const KeySpec& spec, const std::string& value) {
  if (spec.default_value.empty()) return value.empty();
  switch (spec.kind) {
    case ValueKind::integer:
      return parse_int(value, spec.key) == parse_int(spec.default_value, spec.key);
    case ValueKind::real:
      return parse_double(value, spec.key) == parse_double(spec.default_value, spec.key);
    case ValueKind::boolean:
      return parse_bool(value, spec.key) == parse_bool(spec.default_value, spec.key);
    case ValueKind::text:
    case ValueKind::name:
      return value == spec.default_value;
  }
  return false;
}

const KeySpec* find_key(std::string_view key) {
  for (const KeySpec& spec : config_schema())
    if (spec.key == key) return &spec;
  return nullptr;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> keys;
  for (const KeySpec& spec : config_schema()) keys.emplace_back(spec.key);
  return keys;
}

[[noreturn]] void unknown_key(std::string_view origin, const std::string& key) {
  const auto keys = known_keys();
  std::string suggestion = closest_match(key, keys);
  const auto dot = key.find('.');
  const std::string section = key.substr(0, dot);
  const bool section_known =
      std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k.substr(0, k.find('.')) == section; });
  if (!section_known && section != "grid")
    fail<ConfigError>("{}: unknown section [{}]{}", origin, section,
                      suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
  if (suggestion.empty()) fail<ConfigError>("{}: unknown key '{}'", origin, key);
  fail<ConfigError>("{}: unknown key '{}' (did you mean '{}'?)", origin, key, suggestion);
}

}  // namespace

std::string Bounds::describe() const {
  const bool has_low = std::isfinite(low), has_high = std::isfinite(high);
  if (has_low && has_high) return fmt::format("in {}{}, {}{}", low_open ? '(' : '[', low, high, high_open ? ')' : ']');
  if (has_low) return fmt::format("{} {}", low_open ? ">" : ">=", low);
  if (has_high) return fmt::format("{} {}", high_open ? "<" : "<=", high);
  return "any number";
}

std::vector<std::string> split_grid_values(std::string_view text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  for (const char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      values.push_back(trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  values.push_back(trim(current));
  values.erase(std::remove(values.begin(), values.end(), std::string()), values.end());
  return values;
}

Config Config::from_text(std::string_view text, std::string_view origin) {
  namespace po = boost::program_options;
  Config config;
  config.file_ = std::string(origin);
  for (const KeySpec& spec : config_schema()) config.values_[std::string(spec.key)] = std::string(spec.default_value);
  std::istringstream stream{std::string(text)};
  po::parsed_options parsed(nullptr);
  try {
    parsed = po::parse_config_file(stream, po::options_description(), /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    fail<ConfigError>("{}: {}", origin, e.what());
  }
  for (const po::option& option : parsed.options) {
    const std::string& key = option.string_key;
    const std::string value = option.value.empty() ? std::string() : trim(option.value.front());
    if (starts_with(key, "grid.")) {
      config.set_grid(key.substr(5), value, origin);
      continue;
    }
    config.set(key, value, origin);
  }
  return config;
}

Config Config::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file);
  if (!in) fail<ConfigError>("{}: cannot read the config file", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  Config config = from_text(text.str(), file.string());
  config.file_ = file;
  for (const KeySpec& spec : config_schema()) {
    if (spec.environment.empty()) continue;
    const std::string variable(spec.environment);
    if (const char* value = std::getenv(variable.c_str()); value != nullptr && *value != '\0')
      config.set(std::string(spec.key), trim(value), variable);
  }
  for (const std::string& assignment : overrides) config.apply_override(assignment);
  if (config.text("experiment.name").empty()) config.set("experiment.name", file.stem().string(), file.string());
  return config;
}

void Config::apply_override(const std::string& assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos) fail<ConfigError>("--set {}: expected section.key=value", assignment);
  const std::string key = trim(assignment.substr(0, equals)), value = trim(assignment.substr(equals + 1));
  if (starts_with(key, "grid.")) return set_grid(key.substr(5), value, "--set");
  set(key, value, "--set");
}

// "pruner" (an option of the grid) or "train.lr" (a swept key, values as a
// list); a key already swept gets the new list in its place in the order.
void Config::set_grid(const std::string& name, const std::string& value, std::string_view origin) {
  if (name.find('.') == std::string::npos) {
    if (std::find(std::begin(kGridOptions), std::end(kGridOptions), name) == std::end(kGridOptions)) {
      std::vector<std::string> options(std::begin(kGridOptions), std::end(kGridOptions));
      const std::string suggestion = closest_match(name, options);
      fail<ConfigError>("{}: unknown grid option '{}'{}", origin, name,
                        suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
    }
    grid_options_[name] = value;
    return;
  }
  if (find_key(name) == nullptr) unknown_key(fmt::format("{} [grid]", origin), name);
  GridAxis axis{name, split_grid_values(value)};
  if (axis.values.empty()) fail<ConfigError>("{}: grid key '{}' lists no values", origin, name);
  for (const std::string& v : axis.values) check_value(name, v, fmt::format("{} [grid]", origin));
  const auto same = std::find_if(grid_.begin(), grid_.end(), [&](const GridAxis& a) { return a.key == name; });
  if (same != grid_.end())
    *same = std::move(axis);
  else
    grid_.push_back(std::move(axis));
}

void Config::check_value(const std::string& key, const std::string& value, std::string_view origin) const {
  const KeySpec* spec = find_key(key);
  if (spec == nullptr) unknown_key(origin, key);
  if (value.empty()) return;
  const std::string what = fmt::format("{}: {}", origin, key);
  double number = 0;
  switch (spec->kind) {
    case ValueKind::integer:
      number = static_cast<double>(parse_int(value, what));
      break;
    case ValueKind::real:
      number = parse_double(value, what);
      break;
    case ValueKind::boolean:
      parse_bool(value, what);
      return;
    case ValueKind::name:
      check_path_component(value, what);
      return;
    case ValueKind::text:
      return;
  }
  if (!spec->bounds.contains(number))
    fail<ConfigError>("{} = {}: must be {}", what, trim(value), spec->bounds.describe());
}

void Config::set(const std::string& key, const std::string& value, std::string_view origin) {
  check_value(key, value, origin);
  values_[key] = value;
  origins_[key] = std::string(origin);
}

bool Config::has(const std::string& key) const { return !text(key).empty(); }

const std::string& Config::text(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) fail<ConfigError>("config key '{}' is not in the schema", key);
  return it->second;
}

std::string Config::origin(const std::string& key) const {
  const auto it = origins_.find(key);
  return it == origins_.end() ? "default" : it->second;
}

int64_t Config::integer(const std::string& key) const {
  return parse_int(text(key), fmt::format("{}: {}", origin(key), key));
}
double Config::real(const std::string& key) const {
  return parse_double(text(key), fmt::format("{}: {}", origin(key), key));
}
bool Config::boolean(const std::string& key) const {
  return parse_bool(text(key), fmt::format("{}: {}", origin(key), key));
}

std::string Config::to_ini() const {
  std::string out;
  std::string section;
  for (const KeySpec& spec : config_schema()) {
    const std::string key(spec.key);
    const std::string& value = values_.at(key);
    if (value.empty()) continue;
    const auto dot = key.find('.');
    if (key.substr(0, dot) != section) {
      section = key.substr(0, dot);
      out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", section);
    }
    out += fmt::format("{} = {}\n", key.substr(dot + 1), value);
  }
  return out;
}

tracker::ParamValue Config::typed(const KeySpec& spec) const {
  const std::string key(spec.key);
  switch (spec.kind) {
    case ValueKind::integer:
      return static_cast<int64_t>(integer(key));
    case ValueKind::real:
      return real(key);
    case ValueKind::boolean:
      return boolean(key);
    case ValueKind::text:
    case ValueKind::name:
      break;
  }
  return text(key);
}

tracker::Params Config::params() const {
  tracker::Params params;
  for (const KeySpec& spec : config_schema())
    if (spec.key != "experiment.name" && !values_.at(std::string(spec.key)).empty())
      params[std::string(spec.key)] = typed(spec);
  return params;
}

tracker::Params Config::identity_params() const {
  tracker::Params params;
  for (const KeySpec& spec : config_schema()) {
    const std::string& value = values_.at(std::string(spec.key));
    if (value.empty()) continue;
    if (std::find(std::begin(kOperationalKeys), std::end(kOperationalKeys), spec.key) != std::end(kOperationalKeys))
      continue;
    const bool always =
        std::find(std::begin(kAlwaysRecorded), std::end(kAlwaysRecorded), spec.key) != std::end(kAlwaysRecorded);
    if (!always && is_default(spec, value)) continue;
    params[std::string(spec.key)] = typed(spec);
  }
  return params;
}

}  // namespace stride::tools
