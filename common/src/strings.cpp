// String helpers: trimming, splitting, suggestions and strict number parsing.
#include "stride/common/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "stride/common/error.h"

namespace stride {

std::string trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string> split(std::string_view text, char separator, bool skip_empty) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(separator, start);
    const std::string_view part = text.substr(start, pos == std::string_view::npos ? pos : pos - start);
    if (!skip_empty || !part.empty()) parts.emplace_back(part);
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::string join(std::span<const std::string> parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.starts_with(prefix); }

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_match(std::string_view name, std::span<const std::string> candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& candidate : candidates) {
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  // Suggest only what is plausibly a typo: at most a third of the name wrong.
  if (best_distance <= std::max<size_t>(2, name.size() / 3)) return best;
  return {};
}

long long parse_int(std::string_view text, std::string_view what) {
  const std::string t = trim(text);
  long long value = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || ptr != t.data() + t.size() || t.empty())
    fail<ConfigError>("{}: expected an integer, got '{}'", what, t);
  return value;
}

double parse_double(std::string_view text, std::string_view what) {
  const std::string t = trim(text);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || ptr != t.data() + t.size() || t.empty() || !std::isfinite(value))
    fail<ConfigError>("{}: expected a number, got '{}'", what, t);
  return value;
}

bool parse_bool(std::string_view text, std::string_view what) {
  const std::string t = to_lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  fail<ConfigError>("{}: expected true or false, got '{}'", what, t);
}

namespace {

// Length of the UTF-8 sequence at text[i], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t utf8_length(std::string_view text, size_t i, uint32_t& code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  if ((lead & 0xE0) == 0xC0)
    length = 2, code_point = lead & 0x1F, min = 0x80;
  else if ((lead & 0xF0) == 0xE0)
    length = 3, code_point = lead & 0x0F, min = 0x800;
  else if ((lead & 0xF8) == 0xF0)
    length = 4, code_point = lead & 0x07, min = 0x10000;
  else
    return 0;
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return length;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t code_point = 0;
    const size_t length = utf8_length(text, i, code_point);
    if (length == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (code_point == '\t')
      out += "\\t";
    else if (code_point == '\n')
      out += "\\n";
    else if (code_point == '\r')
      out += "\\r";
    else if (code_point < 0x20 || code_point == 0x7F)
      out += fmt::format("\\x{:02x}", code_point);
    else if (code_point >= 0x80 && code_point <= 0x9F)
      out += fmt::format("\\u{:04x}", code_point);
    else
      out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

void check_path_component(std::string_view value, std::string_view what) {
  const auto refuse = [&](std::string_view reason) {
    fail<ConfigError>("{} = '{}': {} (it names a directory)", what, printable(value), reason);
  };
  if (value.empty()) refuse("must not be empty");
  if (value.size() > kMaxNameBytes) refuse(fmt::format("longer than {} bytes", kMaxNameBytes));
  if (value.find_first_of("/\\") != std::string_view::npos) refuse("must not contain '/' or '\\'");
  if (value.find("..") != std::string_view::npos) refuse("must not contain '..'");
  for (const char c : value)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) refuse("must not contain control characters");
  if (value.front() == '-' || value.front() == '.') refuse("must not start with '-' or '.'");
  for (size_t i = 0; i < value.size();) {
    uint32_t code_point = 0;
    const size_t length = utf8_length(value, i, code_point);
    if (length == 0) refuse("is not UTF-8");
    if (code_point >= 0x80 && code_point <= 0x9F) refuse("must not contain control characters");
    i += length;
  }
}

std::string human_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} {}", bytes, kUnits[unit]) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  const long long s = static_cast<long long>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace stride
