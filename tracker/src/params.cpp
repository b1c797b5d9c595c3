// Typed hyperparameter values, their canonical text and hash.
#include "stride/tracker/params.h"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stride/common/error.h"

namespace stride::tracker {
namespace {

// A double with an exact int64 value prints as that integer, so 1.0 and 1 share a canonical form.
std::optional<int64_t> exact_integer(double value) {
  if (!std::isfinite(value) || value != std::trunc(value)) return std::nullopt;
  if (value < -9.2e18 || value > 9.2e18) return std::nullopt;
  return static_cast<int64_t>(value);
}

std::string json_quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int type_rank(ParamType type) {
  switch (type) {
    case ParamType::integer:
    case ParamType::real: return 0;
    case ParamType::boolean: return 1;
    case ParamType::text: return 2;
  }
  return 3;
}

}  // namespace

std::string_view param_type_name(ParamType type) {
  switch (type) {
    case ParamType::integer: return "int";
    case ParamType::real: return "real";
    case ParamType::text: return "text";
    case ParamType::boolean: return "bool";
  }
  return "?";
}

ParamType parse_param_type(std::string_view name) {
  if (name == "int") return ParamType::integer;
  if (name == "real") return ParamType::real;
  if (name == "text") return ParamType::text;
  if (name == "bool") return ParamType::boolean;
  fail<StoreError>("unknown parameter type '{}' (expected int, real, text or bool)", name);
}

ParamType ParamValue::type() const {
  switch (value_.index()) {
    case 0: return ParamType::integer;
    case 1: return ParamType::real;
    case 2: return ParamType::text;
    default: return ParamType::boolean;
  }
}

int64_t ParamValue::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&value_)) return *i;
  if (const auto* b = std::get_if<bool>(&value_)) return *b ? 1 : 0;
  if (const auto* d = std::get_if<double>(&value_))
    if (auto exact = exact_integer(*d)) return *exact;
  fail<StoreError>("parameter value '{}' is not an integer", to_string());
}

double ParamValue::as_double() const {
  if (const auto* d = std::get_if<double>(&value_)) return *d;
  if (const auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
  if (const auto* b = std::get_if<bool>(&value_)) return *b ? 1.0 : 0.0;
  fail<StoreError>("parameter value '{}' is not a number", to_string());
}

bool ParamValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&value_)) return *b;
  if (const auto* i = std::get_if<int64_t>(&value_)) return *i != 0;
  fail<StoreError>("parameter value '{}' is not a bool", to_string());
}

const std::string& ParamValue::as_text() const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  fail<StoreError>("parameter value '{}' is not text", to_string());
}

std::string ParamValue::to_string() const {
  switch (type()) {
    case ParamType::integer: return fmt::format("{}", std::get<int64_t>(value_));
    case ParamType::real: return fmt::format("{}", std::get<double>(value_));
    case ParamType::text: return std::get<std::string>(value_);
    case ParamType::boolean: return std::get<bool>(value_) ? "true" : "false";
  }
  return {};
}

std::string ParamValue::canonical() const {
  switch (type()) {
    case ParamType::integer: return fmt::format("{}", std::get<int64_t>(value_));
    case ParamType::real: {
      const double d = std::get<double>(value_);
      if (auto exact = exact_integer(d)) return fmt::format("{}", *exact);
      if (std::isnan(d)) return "nan";
      return fmt::format("{}", d);  // shortest text that reads back as the same double
    }
    case ParamType::text: return json_quoted(std::get<std::string>(value_));
    case ParamType::boolean: return std::get<bool>(value_) ? "true" : "false";
  }
  return {};
}

nlohmann::json ParamValue::to_json() const {
  switch (type()) {
    case ParamType::integer: return std::get<int64_t>(value_);
    case ParamType::real: return std::get<double>(value_);
    case ParamType::text: return std::get<std::string>(value_);
    case ParamType::boolean: return std::get<bool>(value_);
  }
  return nullptr;
}

bool operator==(const ParamValue& a, const ParamValue& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  return a.value_ == b.value_;
}

bool operator<(const ParamValue& a, const ParamValue& b) {
  const int rank_a = type_rank(a.type()), rank_b = type_rank(b.type());
  if (rank_a != rank_b) return rank_a < rank_b;
  if (a.is_number()) return a.as_double() < b.as_double();
  if (a.type() == ParamType::boolean) return !a.as_bool() && b.as_bool();
  return a.as_text() < b.as_text();
}

std::string canonical_params(const Params& params) {
  std::string text = "{";
  for (const auto& [name, value] : params) {
    if (text.size() > 1) text += ',';
    text += json_quoted(name);
    text += ':';
    text += value.canonical();
  }
  return text + "}";
}

std::string param_hash(const Params& params) { return sha256_hex(canonical_params(params)); }

ParamValue infer_param_value(std::string_view text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (!text.empty()) {
    int64_t i = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, i); ec == std::errc() && ptr == end) return ParamValue(i);
    double d = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, d); ec == std::errc() && ptr == end) return ParamValue(d);
  }
  if (text == "true") return ParamValue(true);
  if (text == "false") return ParamValue(false);
  return ParamValue(std::string(text));
}

nlohmann::json params_to_json(const Params& params) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : params) object[name] = value.to_json();
  return object;
}

Params params_from_json(const nlohmann::json& json, std::string_view what) {
  if (!json.is_object()) fail<StoreError>("{}: parameters are not a JSON object", what);
  Params params;
  for (const auto& [name, value] : json.items()) {
    if (value.is_boolean())
      params.emplace(name, ParamValue(value.get<bool>()));
    else if (value.is_number_integer())
      params.emplace(name, ParamValue(value.get<int64_t>()));
    else if (value.is_number())
      params.emplace(name, ParamValue(value.get<double>()));
    else if (value.is_string())
      params.emplace(name, ParamValue(value.get<std::string>()));
    else if (value.is_null())
      params.emplace(name, ParamValue(std::numeric_limits<double>::quiet_NaN()));
    else
      fail<StoreError>("{}: parameter '{}' has a non-scalar value {}", what, name, value.dump());
  }
  return params;
}

}  // namespace stride::tracker
