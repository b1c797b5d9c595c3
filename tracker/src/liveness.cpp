// Process liveness from /proc and kill(pid, 0), and the heartbeat rule.
#include "liveness.h"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace stride::tracker::liveness {
namespace {

struct ProcStat {
  char state = '?';
  int64_t start_ticks = 0;
};

// Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
std::optional<ProcStat> read_proc_stat(int64_t pid) {
  std::ifstream file(fmt::format("/proc/{}/stat", pid));
  if (!file) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  ProcStat stat;
  fields >> stat.state;  // field 3
  std::string skip;
  for (int field = 4; field < 22; ++field) fields >> skip;
  if (!(fields >> stat.start_ticks)) return std::nullopt;  // field 22
  return stat;
}

}  // namespace

std::optional<int64_t> process_start_ticks(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  const auto stat = read_proc_stat(pid);
  if (!stat) return std::nullopt;
  return stat->start_ticks;
}

std::optional<std::string> death_reason(const Owner& owner, const std::string& this_host, double now,
                                        double grace_seconds) {
  if (owner.host == this_host && owner.pid > 0) {
    const bool exists = ::kill(static_cast<pid_t>(owner.pid), 0) == 0 || errno != ESRCH;
    const auto stat = exists ? read_proc_stat(owner.pid) : std::nullopt;
    if (!exists || (stat && stat->state == 'Z'))
      return fmt::format("{}process {} on {} exited without finishing the trial", kReapedPrefix, owner.pid,
                         owner.host);
    if (stat && owner.pid_started && stat->start_ticks != *owner.pid_started)
      return fmt::format("{}process {} on {} exited; the pid now belongs to another process", kReapedPrefix,
                         owner.pid, owner.host);
  }
  const double silent = now - owner.heartbeat_at;
  if (silent > grace_seconds)
    return fmt::format("{}no heartbeat for {:.0f} s (grace {:.0f} s) from process {} on {}", kReapedPrefix, silent,
                       grace_seconds, owner.pid, owner.host);
  return std::nullopt;
}

}  // namespace stride::tracker::liveness
