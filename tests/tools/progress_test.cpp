// The progress bar fits the terminal: a line never reaches the last column
// (it would wrap, and every redraw would add a line), whatever the width; and
// `stride train` on a 60-column terminal redraws within it, with bars for the
// validation and test passes too.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "run/progress.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

TEST(ProgressLine, FitsEveryWidthAndDropsTheBarBeforeTheNumbers) {
  const std::string label = "epoch 12/100", numbers = "1234/1875 loss 0.4321 acc 0.8765 5123 img/s ETA 1m02s";
  for (int columns = 10; columns <= 200; ++columns) {
    const std::string line = progress_line(label, 0.5, numbers, columns);
    EXPECT_LE(static_cast<int>(line.size()), columns - 1) << columns << " columns: " << line;
  }
  // Room to spare: the full 30-character bar, half filled.
  EXPECT_NE(progress_line(label, 0.5, numbers, 120).find("[" + std::string(15, '=') + ">" + std::string(14, ' ') + "]"),
            std::string::npos);
  const std::string narrow = progress_line(label, 0.5, numbers, 70);
  EXPECT_EQ(narrow.find('['), std::string::npos) << narrow;  // no room for a bar: the numbers matter more
  EXPECT_EQ(narrow.substr(0, label.size() + 10), label + " 1234/1875");
}

TEST(ProgressBar, TrainingOnANarrowTerminalRedrawsWithinItsWidth) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir / "data", {.train = 512, .val = 64, .test = 64});
  std::ofstream(dir / "run.ini") << "[experiment]\nname = p\n[data]\ndir = " << (dir / "data").string()
                                 << "\nbatch_size = 16\neval_batch_size = 16\nworkers = 1\n[model]\nlayers = conv(4,3) "
                                    "relu flatten dense(4)\n[train]\nepochs = 2\nthreads = 1\ncheckpoint_dir = "
                                 << (dir / "ckpt").string() << "\n";
  winsize size{};
  size.ws_col = 60;
  size.ws_row = 24;
  int terminal = -1;
  const pid_t pid = forkpty(&terminal, nullptr, nullptr, &size);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string config = (dir / "run.ini").string(), db = (dir / "store.db").string();
    execl(STRIDE_BINARY, STRIDE_BINARY, "train", "--config", config.c_str(), "--db", db.c_str(), nullptr);
    _exit(127);
  }
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = read(terminal, buffer, sizeof buffer)) > 0;) output.append(buffer, static_cast<size_t>(n));
  close(terminal);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;

  // Each redraw is "\r" LINE "\x1b[K".
  const std::regex redraw("\r([^\r\n\x1b]*)\x1b\\[K");
  int bars = 0, validation = 0, test = 0;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), redraw); it != std::sregex_iterator(); ++it) {
    const std::string line = (*it)[1].str();
    if (line.empty()) continue;  // the bar being cleared
    EXPECT_LE(line.size(), 59u) << "wider than the terminal: " << line;
    ++bars;
    validation += line.find(" val ") != std::string::npos;
    test += line.starts_with("test ");
  }
  EXPECT_GT(bars, 0) << output;
  EXPECT_GE(validation, 2) << "no bar while validating\n" << output;
  EXPECT_GE(test, 1) << "no bar while testing\n" << output;
}

}  // namespace
}  // namespace stride::tools
