// Is the process that runs a trial still there? Internal to the store.
// A trial records its host, pid and the pid's start time (clock ticks since
// boot, /proc/PID/stat field 22). On the same host a pid that no longer exists,
// is a zombie, or now has another start time (the kernel reused the number)
// means the trial's process is gone. From another host only the heartbeat
// tells: no heartbeat for longer than the grace period means presumed dead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stride::tracker::liveness {

// Prefix of every error text the reaper writes, so a late heartbeat from a
// process that was only slow can tell its trial was reaped, not failed.
inline constexpr std::string_view kReapedPrefix = "reaped: ";

// The start time of `pid` on this host, or nullopt when there is no such process.
std::optional<int64_t> process_start_ticks(int64_t pid);

struct Owner {
  std::string host;
  int64_t pid = 0;
  std::optional<int64_t> pid_started;
  double heartbeat_at = 0;
};

// Why a running trial owned by `owner` is dead, as the reaper's error text; nullopt when alive.
std::optional<std::string> death_reason(const Owner& owner, const std::string& this_host, double now,
                                        double grace_seconds);

}  // namespace stride::tracker::liveness
