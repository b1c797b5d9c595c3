// Progress: '\r'-redrawn bar on a TTY, throttled log lines elsewhere.
#include "progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "stride/common/strings.h"

namespace stride::tools {

namespace {
constexpr int kBarWidth = 24;
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::seconds(10);
}  // namespace

Progress::Progress(bool enabled, bool terminal) : enabled_(enabled), terminal_(terminal) {}

void Progress::start(const std::string& label, int64_t total_steps, int64_t first_step) {
  label_ = label;
  total_ = std::max<int64_t>(total_steps, 1);
  first_ = first_step;
  started_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t step, double loss, double accuracy, double images_per_s) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = step + 1 >= total_;
  if (!last && now - last_print_ < (terminal_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(kTerminalInterval)
                                              : std::chrono::duration_cast<std::chrono::nanoseconds>(kLogInterval)))
    return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const int64_t done = step + 1 - first_;
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step - 1) : 0.0;
  const std::string numbers = fmt::format("{}/{} loss {:.4f} acc {:.4f} {:.0f} img/s ETA {}", step + 1, total_,
                                          loss, accuracy, images_per_s, human_duration(eta));
  if (terminal_) {
    const int filled = static_cast<int>(kBarWidth * (step + 1) / total_);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kBarWidth) bar += '>';
    bar.resize(kBarWidth, ' ');
    fmt::print(stderr, "\r{} [{}] {}\x1b[K", label_, bar, numbers);
    std::fflush(stderr);
  } else {
    spdlog::info("{} {}", label_, numbers);
  }
}

void Progress::finish(const std::string& summary) {
  if (!enabled_) return;
  if (terminal_) {
    fmt::print(stderr, "\r\x1b[K");
    std::fflush(stderr);
  }
  spdlog::info("{} {}", label_, summary);
}

}  // namespace stride::tools
