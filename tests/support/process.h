// Starting the built `stride` (or mpirun) from a test: argv from strings,
// output appended to a log file, exit status back. PATH is searched.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

namespace stride::testing {

// Starts args[0] with stdout and stderr appended to `log` (inherited when empty).
inline pid_t spawn_process(std::vector<std::string> args, const std::filesystem::path& log = {}) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -1;
}

// The exit code, or -1 when it did not exit normally (a signal).
inline int wait_exit(pid_t pid) {
  if (pid <= 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline int run_process(std::vector<std::string> args, const std::filesystem::path& log = {}) {
  return wait_exit(spawn_process(std::move(args), log));
}

}  // namespace stride::testing
