// Several processes on one store: eight openers of a new store all open it;
// eight writers at once lose nothing and never see "database is locked"; eight claimers of one grid take each point
// exactly once; a writer killed inside a transaction loses only that transaction and its trial is reported failed.
// Children are forked and open their own store; a pipe is the start gate so they all begin together.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "fixture.h"

namespace stride::tracker::testing {
namespace {

constexpr int kProcesses = 8;

// Forks `count` children that wait at a gate, then run body(index) and exit
// with its result (an exception prints its message and exits 100). Returns
// the exit codes.
std::vector<int> run_children(int count, const std::function<int(int)>& body) {
  int gate[2];
  if (::pipe(gate) != 0) throw std::runtime_error("pipe failed");
  std::vector<pid_t> children;
  for (int i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      char byte;
      while (::read(gate[0], &byte, 1) > 0) {
      }
      int code = 100;
      try {
        code = body(i);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.what());
      }
      std::fflush(stderr);
      ::_exit(code);
    }
    children.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // opens the gate: every child's read returns 0
  std::vector<int> codes;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

// Eight writers, each logging three trials of 15 epochs; `options` sets how
// long SQLite waits for the lock before the store's own retry takes over.
void write_concurrently(StoreTest& test, const StoreOptions& options);

TEST_F(StoreTest, EightProcessesWritingAtOnceLoseNoRow) { write_concurrently(*this, {}); }

TEST_F(StoreTest, EightProcessesWritingAtOnceRetryWhenTheBusyTimeoutIsShort) {
  StoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(1);  // lock waits surface as StoreBusyError and are retried
  write_concurrently(*this, options);
}

void write_concurrently(StoreTest& test, const StoreOptions& options) {
  auto open = [&](Access access = Access::read_write) { return Store::open(test.db_path(), access, options); };
  const std::string db_path = test.db_path();
  { open().ensure_experiment("concurrent"); }
  constexpr int kTrials = 3, kEpochs = 15;
  const auto codes = run_children(kProcesses, [&](int worker) {
    auto store = open();
    const int64_t experiment = store.ensure_experiment("concurrent");
    for (int t = 0; t < kTrials; ++t) {
      const int64_t id = store.start_trial(new_trial(experiment, {{"worker", worker}, {"trial", t}}));
      for (int epoch = 0; epoch < kEpochs; ++epoch) {
        store.log_metrics(id, epoch_rows(epoch, 0.5, 0.5));
        store.log_decision(id, {epoch, DecisionKind::keep, "early_stopping", "val_loss", 0.5, 0.5, 0, 5, ""});
      }
      store.finish_trial(
          id, {TrialStatus::completed, BestMetric{"val_accuracy", 0.5, 0, std::nullopt}, std::nullopt, std::nullopt});
    }
    return 0;
  });
  EXPECT_EQ(codes, std::vector<int>(kProcesses, 0)) << "a child failed; its error is on stderr";
  auto store = open(Access::read_only);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM experiments"), 1);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM trials WHERE status = 'completed'"),
            kProcesses * kTrials);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), kProcesses * kTrials * kEpochs * 3);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM decisions"), kProcesses * kTrials * kEpochs);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM params"), kProcesses * kTrials * 2);
  EXPECT_EQ(integrity_check(db_path), "ok");
}

// The first opener creates and migrates the store while the others open it:
// none may see it half made (a grid's ranks all open a new store at once).
TEST_F(StoreTest, EightProcessesOpeningANewStoreAtOnceAllSucceed) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = (dir_ / ("round-" + std::to_string(round)) / "stride.db").string();
    const auto codes = run_children(kProcesses, [&](int worker) {
      for (int again = 0; again < 3; ++again) {
        auto store = Store::open(path);
        store.ensure_experiment("opened by " + std::to_string(worker));
      }
      return 0;
    });
    ASSERT_EQ(codes, std::vector<int>(kProcesses, 0))
        << "round " << round << ": a child failed; its error is on stderr";
    auto store = Store::open(path, Access::read_only);
    EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM experiments"), kProcesses);
  }
}

TEST_F(StoreTest, EightProcessesClaimEachGridPointExactlyOnce) {
  { open().ensure_experiment("grid"); }
  constexpr int kPoints = 12;
  const auto codes = run_children(kProcesses, [&](int worker) {
    auto store = open();
    const int64_t experiment = store.ensure_experiment("grid");
    int claimed = 0;
    for (int k = 0; k < kPoints; ++k) {
      const int point = (k + worker) % kPoints;  // different orders, so claims collide
      const auto claim = store.claim_trial(new_trial(experiment, {{"train.lr", 0.001 * (point + 1)}}), true);
      if (!claim) continue;
      ++claimed;
      store.log_metrics(claim->trial_id, epoch_rows(0, 0.5, 0.5));
      store.finish_trial(claim->trial_id, {TrialStatus::completed, std::nullopt, std::nullopt, std::nullopt});
    }
    return claimed;
  });
  int total = 0;
  for (int code : codes) {
    EXPECT_LT(code, 100) << "a child failed; its error is on stderr";
    total += code;
  }
  EXPECT_EQ(total, kPoints);
  auto store = open(Access::read_only);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM trials"), kPoints);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(DISTINCT param_hash) FROM trials"), kPoints);
  EXPECT_EQ(count_rows(store.connection(), "SELECT sum(attempts) FROM trials"), kPoints);
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), kPoints * 3);
}

TEST_F(StoreTest, WriterKilledInsideATransactionLosesOnlyThatBatch) {
  { open().ensure_experiment("crash"); }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    try {
      auto store = open();
      const int64_t id = store.start_trial(new_trial(store.ensure_experiment("crash"), {{"train.lr", 0.1}}));
      for (int epoch = 0; epoch < 3; ++epoch) store.log_metrics(id, epoch_rows(epoch, 0.5, 0.5));
      // Epoch 3's batch, half written when the process dies.
      sqlite::Transaction transaction(store.connection());
      sqlite::Statement insert(
          store.connection(), "INSERT INTO metrics (trial_id, name, epoch, value, wall_time) VALUES (?, ?, 3, 0.9, 0)");
      for (int i = 0; i < 200; ++i) {
        insert.bind_all(id, "row" + std::to_string(i)).run();
        insert.reset();
      }
      const char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
      ::pause();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    ::_exit(1);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the child died before its transaction was open";
  ::close(ready[0]);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  EXPECT_EQ(integrity_check(db_path()), "ok");
  {
    auto reader = open(Access::read_only);
    const auto trials = reader.trials();
    ASSERT_EQ(trials.size(), 1u);
    EXPECT_EQ(trials[0].status, TrialStatus::failed) << "the trial's process is gone";
    EXPECT_EQ(trials[0].epochs, 3);
    EXPECT_EQ(count_rows(reader.connection(), "SELECT count(*) FROM metrics"), 3 * 3);
  }
  auto writer = open();
  const auto t = writer.trial(1);
  EXPECT_EQ(t.status, TrialStatus::failed);
  EXPECT_NE(t.error.value_or("").find("exited without finishing"), std::string::npos) << t.error.value_or("");
  EXPECT_EQ(count_rows(writer.connection(), "SELECT count(*) FROM metrics WHERE epoch = 3"), 0);
  // The store takes new writes: the lock died with the process.
  const int64_t next = writer.start_trial(new_trial(t.experiment_id, {{"train.lr", 0.2}}));
  writer.log_metrics(next, epoch_rows(0, 0.6, 0.4));
  EXPECT_EQ(integrity_check(db_path()), "ok");
}

// A second open of the store in a process that already has it open (a
// pruner or a report asking mid-trial) must leave that process's locks
// alone: were they dropped (closing any descriptor of a file drops every
// POSIX lock the process holds on it), another process's close would take
// the store as unused, checkpoint and delete the WAL under the live
// connection, and the two would go on writing diverging logs.
TEST_F(StoreTest, ASecondOpenInOneProcessKeepsTheOtherProcessesFromDeletingItsLog) {
  { open().ensure_experiment("shared"); }
  int go[2], done[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(go[1]);
    ::close(done[0]);
    int code = 0;
    try {
      // Each round: open, one whole trial, close (as a grid's other rank does per point).
      for (char round; ::read(go[0], &round, 1) == 1;) {
        {
          auto store = open();
          const int64_t id =
              store.start_trial(new_trial(store.ensure_experiment("shared"), {{"round", static_cast<int64_t>(round)}}));
          for (int epoch = 0; epoch < 3; ++epoch) store.log_metrics(id, epoch_rows(epoch, 0.5, 0.5));
          store.finish_trial(id, {TrialStatus::completed, std::nullopt, std::nullopt, std::nullopt});
        }
        if (::write(done[1], &round, 1) != 1) ::_exit(2);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 1;
    }
    ::_exit(code);
  }
  ::close(go[0]);
  ::close(done[1]);
  const auto child_round = [&](char round) {
    char back = 0;
    return ::write(go[1], &round, 1) == 1 && ::read(done[0], &back, 1) == 1 && back == round;
  };
  {
    auto store = open();
    const int64_t id = store.start_trial(new_trial(store.ensure_experiment("shared"), {{"round", int64_t{0}}}));
    store.log_metrics(id, epoch_rows(0, 0.5, 0.5));
    { open().trials(); }  // the second open, closed again
    ASSERT_TRUE(child_round(1)) << "the child failed; its error is on stderr";
    store.log_metrics(id, epoch_rows(1, 0.5, 0.5));
    ASSERT_TRUE(child_round(2)) << "the child failed; its error is on stderr";
    store.log_metrics(id, epoch_rows(2, 0.5, 0.5));
    store.finish_trial(id, {TrialStatus::completed, std::nullopt, std::nullopt, std::nullopt});
  }
  ::close(go[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child failed; its error is on stderr";

  EXPECT_EQ(integrity_check(db_path()), "ok");
  auto reader = open(Access::read_only);
  EXPECT_EQ(count_rows(reader.connection(), "SELECT count(*) FROM trials WHERE status = 'completed'"), 3);
  EXPECT_EQ(count_rows(reader.connection(), "SELECT count(*) FROM metrics"), 3 * 3 * 3);
}

}  // namespace
}  // namespace stride::tracker::testing
