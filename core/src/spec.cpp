// The layer spec parser: tokens, positional and keyword arguments, with errors
// that point at the column and token at fault, and the named architectures.
#include "stride/core/spec.h"

#include <cctype>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/core/layers.h"

namespace stride {
namespace {

struct Token {
  std::string name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> keyword;
  size_t column = 0;  // 1-based
  std::string text;
};

[[noreturn]] void spec_error(const Token& token, const std::string& message) {
  fail<ConfigError>("model.layers: column {}: '{}': {}", token.column, token.text, message);
}

std::vector<Token> tokenize(const std::string& spec) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < spec.size()) {
    if (std::isspace(static_cast<unsigned char>(spec[i]))) {
      ++i;
      continue;
    }
    Token token;
    token.column = i + 1;
    const size_t start = i;
    while (i < spec.size() && (std::isalnum(static_cast<unsigned char>(spec[i])) || spec[i] == '_')) ++i;
    token.name = to_lower(spec.substr(start, i - start));
    if (token.name.empty()) {
      token.text = spec.substr(start, 1);
      spec_error(token, "expected a layer name");
    }
    size_t j = i;
    while (j < spec.size() && spec[j] == ' ') ++j;
    if (j < spec.size() && spec[j] == '(') {
      const size_t close = spec.find(')', j);
      if (close == std::string::npos) {
        token.text = spec.substr(start);
        spec_error(token, "missing ')'");
      }
      const std::string inside = spec.substr(j + 1, close - j - 1);
      token.text = spec.substr(start, close + 1 - start);
      bool keyword_seen = false;
      for (const std::string& raw : split(inside, ',')) {
        const std::string arg = trim(raw);
        if (arg.empty()) spec_error(token, "empty argument");
        const size_t eq = arg.find('=');
        if (eq == std::string::npos) {
          if (keyword_seen) spec_error(token, fmt::format("positional argument '{}' after a keyword one", arg));
          token.positional.push_back(arg);
        } else {
          keyword_seen = true;
          token.keyword[to_lower(trim(arg.substr(0, eq)))] = trim(arg.substr(eq + 1));
        }
      }
      i = close + 1;
    } else {
      token.text = token.name;
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// Reads the arguments of one token by position or name, once each.
class Arguments {
 public:
  Arguments(const Token& token, std::vector<std::string> names) : token_(token), names_(std::move(names)) {
    if (token.positional.size() > names_.size())
      spec_error(token, fmt::format("takes at most {} positional arguments", names_.size()));
    for (const auto& [key, value] : token.keyword) {
      (void)value;
      if (std::find(names_.begin(), names_.end(), key) == names_.end()) {
        const std::string near = closest_match(key, names_);
        spec_error(token, fmt::format("unknown argument '{}'{}", key,
                                      near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
      }
    }
  }

  bool has(const std::string& name) const { return !raw(name).empty(); }

  std::string raw(const std::string& name) const {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] != name) continue;
      const auto kw = token_.keyword.find(name);
      if (i < token_.positional.size()) {
        if (kw != token_.keyword.end()) spec_error(token_, fmt::format("argument '{}' given twice", name));
        return token_.positional[i];
      }
      if (kw != token_.keyword.end()) return kw->second;
    }
    return {};
  }

  std::string required(const std::string& name) const {
    std::string value = raw(name);
    if (value.empty()) spec_error(token_, fmt::format("missing argument '{}'", name));
    return value;
  }

  int64_t integer(const std::string& name, int64_t fallback) const {
    const std::string value = raw(name);
    if (value.empty()) return fallback;
    int64_t v = 0;
    try {
      v = parse_int(value, name);
    } catch (const ConfigError&) {
      spec_error(token_, fmt::format("'{}' must be an integer, got '{}'", name, value));
    }
    if (v <= 0) spec_error(token_, fmt::format("'{}' must be positive, got {}", name, value));
    return v;
  }

  // "3" -> (3, 3); "3x5" -> (3, 5).
  std::pair<int64_t, int64_t> pair(const std::string& name, std::pair<int64_t, int64_t> fallback) const {
    const std::string value = to_lower(raw(name));
    if (value.empty()) return fallback;
    const auto parts = split(value, 'x');
    if (parts.size() > 2) spec_error(token_, fmt::format("'{}' must be N or HxW, got '{}'", name, value));
    try {
      const int64_t h = parse_int(parts[0], name);
      const int64_t w = parts.size() == 2 ? parse_int(parts[1], name) : h;
      if (h <= 0 || w <= 0) throw ConfigError("non-positive");
      return {h, w};
    } catch (const ConfigError&) {
      spec_error(token_, fmt::format("'{}' must be N or HxW with positive integers, got '{}'", name, value));
    }
  }

  float real(const std::string& name, float fallback) const {
    const std::string value = raw(name);
    if (value.empty()) return fallback;
    try {
      return static_cast<float>(parse_double(value, name));
    } catch (const ConfigError&) {
      spec_error(token_, fmt::format("'{}' must be a number, got '{}'", name, value));
    }
  }

  bool boolean(const std::string& name, bool fallback) const {
    const std::string value = raw(name);
    if (value.empty()) return fallback;
    try {
      return parse_bool(value, name);
    } catch (const ConfigError&) {
      spec_error(token_, fmt::format("'{}' must be true or false, got '{}'", name, value));
    }
  }

  Padding padding() const {
    const std::string value = to_lower(raw("padding"));
    if (value.empty() || value == "valid") return Padding::valid;
    if (value == "same") return Padding::same;
    spec_error(token_, fmt::format("padding must be valid or same, got '{}'", value));
  }

 private:
  const Token& token_;
  std::vector<std::string> names_;
};

LayerPtr make_conv(const Token& t) {
  Arguments a(t, {"filters", "kernel", "stride", "padding", "bias"});
  const int64_t filters = a.integer("filters", 0);
  if (!a.has("filters")) spec_error(t, "missing argument 'filters'");
  a.required("kernel");
  const auto kernel = a.pair("kernel", {1, 1});
  const auto stride = a.pair("stride", {1, 1});
  return std::make_unique<Conv2D>(filters, kernel.first, kernel.second, stride.first, stride.second, a.padding(),
                                  a.boolean("bias", true));
}

LayerPtr make_pool(const Token& t, PoolKind kind) {
  Arguments a(t, {"size", "stride", "padding"});
  const auto size = a.pair("size", {2, 2});
  const auto stride = a.pair("stride", size);
  return std::make_unique<Pool2D>(kind, size.first, size.second, stride.first, stride.second, a.padding());
}

using Factory = std::function<LayerPtr(const Token&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = {
      {"conv", make_conv},
      {"conv2d", make_conv},
      {"relu", [](const Token& t) { Arguments a(t, {}); return std::make_unique<Activation>(ActivationKind::relu); }},
      {"leaky_relu",
       [](const Token& t) {
         Arguments a(t, {"alpha"});
         return std::make_unique<Activation>(ActivationKind::leaky_relu, a.real("alpha", 0.3f));
       }},
      {"elu",
       [](const Token& t) {
         Arguments a(t, {"alpha"});
         return std::make_unique<Activation>(ActivationKind::elu, a.real("alpha", 1.0f));
       }},
      {"maxpool", [](const Token& t) { return make_pool(t, PoolKind::max); }},
      {"max_pool", [](const Token& t) { return make_pool(t, PoolKind::max); }},
      {"avgpool", [](const Token& t) { return make_pool(t, PoolKind::average); }},
      {"avg_pool", [](const Token& t) { return make_pool(t, PoolKind::average); }},
      {"gap", [](const Token& t) { Arguments a(t, {}); return std::make_unique<GlobalAvgPool>(); }},
      {"global_avg_pool", [](const Token& t) { Arguments a(t, {}); return std::make_unique<GlobalAvgPool>(); }},
      {"flatten", [](const Token& t) { Arguments a(t, {}); return std::make_unique<Flatten>(); }},
      {"dense",
       [](const Token& t) {
         Arguments a(t, {"units", "bias"});
         a.required("units");
         return std::make_unique<Dense>(a.integer("units", 1), a.boolean("bias", true));
       }},
      {"dropout",
       [](const Token& t) {
         Arguments a(t, {"rate"});
         const float rate = a.real("rate", -1.0f);
         if (!(rate >= 0.0f && rate < 1.0f)) spec_error(t, "rate must be in [0, 1)");
         return std::make_unique<Dropout>(rate);
       }},
      {"bn",
       [](const Token& t) {
         Arguments a(t, {"momentum", "epsilon"});
         const float momentum = a.real("momentum", 0.99f), epsilon = a.real("epsilon", 1e-3f);
         if (!(momentum >= 0.0f && momentum < 1.0f)) spec_error(t, "momentum must be in [0, 1)");
         if (!(epsilon > 0.0f)) spec_error(t, "epsilon must be positive");
         return std::make_unique<BatchNorm>(momentum, epsilon);
       }},
      {"residual",
       [](const Token& t) {
         Arguments a(t, {"filters", "stride"});
         a.required("filters");
         return std::make_unique<Residual>(a.integer("filters", 1), a.integer("stride", 1));
       }},
  };
  return table;
}

}  // namespace

std::vector<LayerPtr> parse_layers(const std::string& spec) {
  std::vector<LayerPtr> layers;
  for (const Token& token : tokenize(spec)) {
    std::string name = token.name;
    if (name == "batchnorm" || name == "batch_norm") name = "bn";
    const auto found = factories().find(name);
    if (found == factories().end()) {
      std::vector<std::string> names;
      for (const auto& entry : factories()) names.push_back(entry.first);
      const std::string near = closest_match(name, names);
      spec_error(token, fmt::format("unknown layer '{}'{}", token.name,
                                    near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
    }
    layers.push_back(found->second(token));
  }
  if (layers.empty()) fail<ConfigError>("model.layers: the spec has no layers");
  return layers;
}

std::vector<std::string> arch_names() { return {"seed_cnn", "vgg_bn", "resnet9"}; }

std::string arch_spec(const std::string& name, int64_t classes) {
  if (name == "seed_cnn")
    return fmt::format(
        "conv(32,3) relu maxpool(2) conv(64,3) relu maxpool(2) conv(64,3) relu flatten dense(64) relu dense({})",
        classes);
  if (name == "vgg_bn")
    return fmt::format(
        "conv(32,3,padding=same,bias=false) bn relu conv(32,3,padding=same,bias=false) bn relu maxpool(2) "
        "dropout(0.25) "
        "conv(64,3,padding=same,bias=false) bn relu conv(64,3,padding=same,bias=false) bn relu maxpool(2) "
        "dropout(0.25) "
        "flatten dense(256,bias=false) bn relu dropout(0.5) dense({})",
        classes);
  if (name == "resnet9")
    return fmt::format(
        "conv(32,3,padding=same,bias=false) bn relu conv(64,3,padding=same,bias=false) bn relu "
        "residual(64) residual(128,stride=2) residual(256,stride=2) gap dense({})",
        classes);
  const std::vector<std::string> names = arch_names();
  const std::string near = closest_match(name, names);
  fail<ConfigError>("model.arch: unknown architecture '{}'{} (known: {})", name,
                    near.empty() ? "" : fmt::format(", did you mean '{}'?", near), join(names, ", "));
}

}  // namespace stride
