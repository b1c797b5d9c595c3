// Small string helpers shared by config parsing, spec parsing and reports.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stride {

std::string trim(std::string_view text);
std::string to_lower(std::string_view text);
// Splits on a character; empty fields are kept unless skip_empty.
std::vector<std::string> split(std::string_view text, char separator, bool skip_empty = false);
std::string join(std::span<const std::string> parts, std::string_view separator);
bool starts_with(std::string_view text, std::string_view prefix);

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `name`, or "" when none is close enough to suggest.
std::string closest_match(std::string_view name, std::span<const std::string> candidates);

// Parses the whole text as a number or fails with ConfigError naming `what`.
long long parse_int(std::string_view text, std::string_view what);
double parse_double(std::string_view text, std::string_view what);
bool parse_bool(std::string_view text, std::string_view what);

// Checks a value that becomes one path component (an experiment name under
// the checkpoint directory): no '/', '\', "..", NUL or other control
// characters, no leading '-' or '.', at most kMaxNameBytes bytes. Fails with
// ConfigError "WHAT = 'VALUE': REASON" (the value shown printable).
inline constexpr size_t kMaxNameBytes = 128;
void check_path_component(std::string_view value, std::string_view what);

// The text with control characters made visible, for a terminal: C0 and DEL
// as \xNN (\t, \n, \r by name), C1 code points as \u00NN, bytes that are not
// UTF-8 as \xNN. Everything else, UTF-8 included, is kept.
std::string printable(std::string_view text);

// "1.2 GB", "312 KiB" style sizes and "1h02m03s" durations for people.
std::string human_bytes(double bytes);
std::string human_duration(double seconds);

}  // namespace stride
