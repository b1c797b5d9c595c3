// Hyperparameters as the store keeps them: a typed value (int / real / text /
// bool) per dotted name ("train.lr", "data.batch_size", "model.layers"), and
// the parameter hash that identifies one point of a grid. The hash is the
// SHA-256 of a canonical text (names sorted, numbers in shortest round-trip
// form), so it is the same on every machine and in every run; an int and a real
// with the same numeric value (1 and 1.0) hash alike, text "1" does not.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "stride/common/sha256.h"

namespace stride::tracker {

enum class ParamType { integer, real, text, boolean };

// "int", "real", "text", "bool": the names stored in params.type.
std::string_view param_type_name(ParamType type);
ParamType parse_param_type(std::string_view name);  // throws StoreError naming the value

class ParamValue {
 public:
  ParamValue() : value_(int64_t{0}) {}
  ParamValue(int value) : value_(int64_t{value}) {}
  ParamValue(long value) : value_(int64_t{value}) {}
  ParamValue(long long value) : value_(static_cast<int64_t>(value)) {}
  ParamValue(double value) : value_(value) {}
  ParamValue(bool value) : value_(value) {}
  ParamValue(std::string value) : value_(std::move(value)) {}
  ParamValue(std::string_view value) : value_(std::string(value)) {}
  ParamValue(const char* value) : value_(std::string(value)) {}

  ParamType type() const;
  bool is_number() const { return type() == ParamType::integer || type() == ParamType::real; }
  int64_t as_int() const;    // integer (or bool) value; throws StoreError otherwise
  double as_double() const;  // integer, real or bool as a double; throws StoreError for text
  bool as_bool() const;
  const std::string& as_text() const;  // throws StoreError unless text

  // For people: "0.001", "64", "true", "conv(32,3) relu".
  std::string to_string() const;
  // Canonical text used by param_hash: numbers in shortest round-trip form, text JSON-quoted.
  std::string canonical() const;
  nlohmann::json to_json() const;

  friend bool operator==(const ParamValue& a, const ParamValue& b);
  // Numbers before bools before text; numbers compare numerically.
  friend bool operator<(const ParamValue& a, const ParamValue& b);

 private:
  std::variant<int64_t, double, std::string, bool> value_;
};

// Ordered by name, which is also the canonical order for hashing.
using Params = std::map<std::string, ParamValue, std::less<>>;

// The canonical text: {"data.batch_size":64,"train.lr":0.001}.
std::string canonical_params(const Params& params);
// Lower-case hex SHA-256 of canonical_params (64 characters).
std::string param_hash(const Params& params);

// A command-line or config value typed the way a person means it: "64" -> int,
// "0.001" / "1e-3" -> real, "true" / "false" -> bool, anything else -> text.
ParamValue infer_param_value(std::string_view text);

nlohmann::json params_to_json(const Params& params);
// Inverse of params_to_json; `what` names the source in errors.
Params params_from_json(const nlohmann::json& json, std::string_view what);

// SHA-256 (FIPS 180-4) of bytes, as 64 lower-case hex characters.
using stride::sha256_hex;

}  // namespace stride::tracker
