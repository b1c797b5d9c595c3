// The training progress line: on a terminal a bar redrawn in place with
// loss, accuracy, images/s and ETA; otherwise a plain log line every few
// seconds, so logs of batch jobs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace stride::tools {

class Progress {
 public:
  // enabled false: prints nothing (ranks other than 0).
  Progress(bool enabled, bool terminal);

  void start(const std::string& label, int64_t total_steps, int64_t first_step = 0);
  // After step `step` (0-based) with the running means so far.
  void update(int64_t step, double loss, double accuracy, double images_per_s);
  // Ends the line; `summary` replaces the bar.
  void finish(const std::string& summary);

 private:
  bool enabled_, terminal_;
  std::string label_;
  int64_t total_ = 0, first_ = 0;
  std::chrono::steady_clock::time_point started_, last_print_;
};

}  // namespace stride::tools
