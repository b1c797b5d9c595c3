// The training progress line: on a terminal a bar redrawn in place with
// loss, accuracy, images/s and ETA, sized to the terminal's width at every
// redraw (a line wider than the terminal wraps and each redraw floods the
// screen); otherwise a plain log line every few seconds, so logs of batch jobs
// stay readable. Validation and test passes show a bar of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace stride::tools {

class Progress {
 public:
  // enabled false: prints nothing (ranks other than 0).
  Progress(bool enabled, bool terminal);

  void start(const std::string& label, int64_t total_steps, int64_t first_step = 0);
  // After step `step` (0-based) with the running means so far.
  void update(int64_t step, double loss, double accuracy, double images_per_s);
  // A pass inside the current one ("val", "test") with its own bar and ETA;
  // finish() still reports under the outer label.
  void start_pass(const std::string& pass, int64_t total_steps);
  // For evaluate(): called with the number of batches done.
  std::function<void(int64_t)> pass_ticker();
  // Ends the line; `summary` replaces the bar.
  void finish(const std::string& summary);
  // Removes the bar without a summary line.
  void clear();

 private:
  void draw(int64_t step, const std::string& numbers, bool force);

  bool enabled_, terminal_;
  std::string label_, pass_;
  int64_t total_ = 0, first_ = 0;
  std::chrono::steady_clock::time_point started_, last_print_;
  bool drawn_ = false;
};

// One redraw of the bar for a terminal `columns` wide: "LABEL [====>   ] NUMBERS"
// in at most columns - 1 characters (the last column would wrap on some
// terminals). The bar shrinks first, then goes; then NUMBERS is cut.
std::string progress_line(const std::string& label, double fraction, const std::string& numbers, int columns);

// Columns of the terminal `fd` is (TIOCGWINSZ), else $COLUMNS, else 80.
int terminal_columns(int fd);

}  // namespace stride::tools
