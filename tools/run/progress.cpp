// Progress: '\r'-redrawn bar on a TTY, throttled log lines elsewhere.
#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "stride/common/strings.h"

namespace stride::tools {

namespace {
constexpr int kMaxBarWidth = 30;
constexpr int kMinBarWidth = 8;
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::seconds(10);

std::string bar_text(double fraction, int width) {
  const int filled = std::clamp(static_cast<int>(width * fraction), 0, width);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>';
  bar.resize(static_cast<size_t>(width), ' ');
  return "[" + bar + "]";
}
}  // namespace

std::string progress_line(const std::string& label, double fraction, const std::string& numbers, int columns) {
  const int room = std::max(1, columns - 1);
  const int fixed = static_cast<int>(label.size() + numbers.size()) + 2;  // two separating spaces
  const int bar = std::min(kMaxBarWidth, room - fixed - 2);               // 2 for the brackets
  if (bar >= kMinBarWidth) return label + " " + bar_text(fraction, bar) + " " + numbers;
  std::string line = label + " " + numbers;
  if (static_cast<int>(line.size()) > room) line.resize(static_cast<size_t>(room));
  return line;
}

int terminal_columns(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int n = std::atoi(columns);
    if (n > 0) return n;
  }
  return 80;
}

Progress::Progress(bool enabled, bool terminal) : enabled_(enabled), terminal_(terminal) {}

void Progress::start(const std::string& label, int64_t total_steps, int64_t first_step) {
  label_ = label;
  pass_.clear();
  total_ = std::max<int64_t>(total_steps, 1);
  first_ = first_step;
  started_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::start_pass(const std::string& pass, int64_t total_steps) {
  pass_ = pass;
  total_ = std::max<int64_t>(total_steps, 1);
  first_ = 0;
  started_ = last_print_ = std::chrono::steady_clock::now();
}

std::function<void(int64_t)> Progress::pass_ticker() {
  if (!enabled_ || !terminal_) return nullptr;  // a log line per validation pass would be noise
  return [this](int64_t done) { draw(done - 1, fmt::format("{}/{} ETA {}", done, total_, "{eta}"), false); };
}

void Progress::update(int64_t step, double loss, double accuracy, double images_per_s) {
  draw(step,
       fmt::format("{}/{} loss {:.4f} acc {:.4f} {:.0f} img/s ETA {{eta}}", step + 1, total_, loss, accuracy,
                   images_per_s),
       false);
}

void Progress::draw(int64_t step, const std::string& numbers, bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = step + 1 >= total_;
  const auto interval = terminal_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(kTerminalInterval)
                                  : std::chrono::duration_cast<std::chrono::nanoseconds>(kLogInterval);
  if (!force && !last && now - last_print_ < interval) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const int64_t done = step + 1 - first_;
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step - 1) : 0.0;
  std::string text = numbers;
  if (const auto at = text.find("{eta}"); at != std::string::npos) text.replace(at, 5, human_duration(eta));
  const std::string label = pass_.empty() ? label_ : label_ + " " + pass_;
  if (terminal_) {
    const double fraction = static_cast<double>(step + 1) / static_cast<double>(total_);
    fmt::print(stderr, "\r{}\x1b[K", progress_line(label, fraction, text, terminal_columns(STDERR_FILENO)));
    std::fflush(stderr);
    drawn_ = true;
  } else {
    spdlog::info("{} {}", label, text);
  }
}

void Progress::clear() {
  if (!enabled_ || !terminal_ || !drawn_) return;
  fmt::print(stderr, "\r\x1b[K");
  std::fflush(stderr);
  drawn_ = false;
}

void Progress::finish(const std::string& summary) {
  if (!enabled_) return;
  clear();
  spdlog::info("{} {}", label_, summary);
  pass_.clear();
}

}  // namespace stride::tools
