// The store under faults of its medium and its neighbours: a full disk says
// "no space left on device" naming the file and loses nothing committed; an
// archive on a read-only file system can be read (and a writer is told why
// not, in one line); a reader that opens a store its creator is still
// initialising waits for it instead of calling it empty.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "error_of.h"
#include "fixture.h"
#include "stride/tracker/report.h"
#include "stride/tracker/schema.h"
#include "tmpfs.h"

namespace stride::tracker::testing {
namespace {

std::string error_of(const std::function<void()>& body) { return ::stride::testing::error_of<std::exception>(body); }

class StoreFaultTest : public StoreTest {
 protected:
  std::filesystem::path medium() const { return dir_ / "medium"; }
  std::string store_path() const { return (medium() / "stride.db").string(); }

  // A store with one finished trial of three epochs.
  void write_one_trial() {
    auto store = Store::open(store_path());
    const int64_t id = store.start_trial(new_trial(store.ensure_experiment("kept"), {{"train.lr", 0.01}}));
    for (int epoch = 0; epoch < 3; ++epoch) store.log_metrics(id, epoch_rows(epoch, 0.5, 0.5));
    store.finish_trial(
        id, {TrialStatus::completed, BestMetric{"val_accuracy", 0.5, 2, std::nullopt}, std::nullopt, std::nullopt});
  }
};

TEST_F(StoreFaultTest, AFullDiskSaysNoSpaceNamingTheFileAndKeepsWhatWasCommitted) {
  stride::testing::TmpfsMount small(medium(), "2m");
  if (!small.mounted()) GTEST_SKIP() << small.why_not();
  auto store = Store::open(store_path());
  const int64_t id = store.start_trial(new_trial(store.ensure_experiment("full"), {{"train.lr", 0.01}}));
  for (int epoch = 0; epoch < 3; ++epoch) store.log_metrics(id, epoch_rows(epoch, 0.5, 0.5));
  ASSERT_TRUE(small.fill()) << "the tmpfs did not fill up";

  std::vector<MetricRow> many;
  for (int i = 0; i < 20000; ++i) many.push_back({"train_loss", 3, int64_t{i}, 0.5, 0});
  const std::string message = error_of([&] { store.log_metrics(id, many); });
  EXPECT_NE(message.find(store_path()), std::string::npos) << message;
  EXPECT_NE(message.find("no space left on device"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  // The epochs committed before are all there, through the same connection and after space is freed.
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), 3 * 3);
  small.unfill();
  EXPECT_EQ(count_rows(store.connection(), "SELECT count(*) FROM metrics"), 3 * 3);
  store.log_metrics(id, epoch_rows(3, 0.6, 0.4));
  EXPECT_EQ(integrity_check(store_path()), "ok");
}

TEST_F(StoreFaultTest, AStoreOnAReadOnlyFileSystemIsReportedAndWritersAreToldWhyNot) {
  stride::testing::TmpfsMount archive(medium(), "8m");
  if (!archive.mounted()) GTEST_SKIP() << archive.why_not();
  write_one_trial();
  ASSERT_FALSE(std::filesystem::exists(store_path() + "-wal")) << "the last close removes the log";
  ASSERT_TRUE(archive.remount_read_only());

  auto reader = Store::open(store_path(), Access::read_only);
  const auto trials = reader.trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status, TrialStatus::completed);
  EXPECT_EQ(trials[0].epochs, 3);
  report::TrialsOptions options;
  EXPECT_NE(report::render_trials(reader, options, TableFormat::text).find("completed"), std::string::npos);
  EXPECT_NE(report::render_html(reader, "kept").find("<svg"), std::string::npos);

  const std::string message = error_of([&] { Store::open(store_path()); });
  EXPECT_NE(message.find(store_path()), std::string::npos) << message;
  EXPECT_NE(message.find("read-only"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

// Collects what the store logs, and tells a waiting test when a line containing `awaited` appears.
class AwaitLog : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AwaitLog(std::string awaited) : awaited_(std::move(awaited)) {}
  bool wait(std::chrono::seconds limit) {
    std::unique_lock lock(seen_mutex_);
    return seen_cv_.wait_for(lock, limit, [&] { return seen_; });
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (std::string_view(message.payload.data(), message.payload.size()).find(awaited_) == std::string_view::npos)
      return;
    const std::lock_guard lock(seen_mutex_);
    seen_ = true;
    seen_cv_.notify_all();
  }
  void flush_() override {}

 private:
  std::string awaited_;
  std::mutex seen_mutex_;
  std::condition_variable seen_cv_;
  bool seen_ = false;
};

TEST_F(StoreTest, AReaderWaitsForTheCreatorToFinishInitialisingTheStore) {
  std::filesystem::create_directories(std::filesystem::path(db_path()).parent_path());
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  const pid_t creator = ::fork();
  if (creator == 0) {
    // The creator: the file exists, its first migration is written but not yet committed.
    ::close(ready[0]);
    ::close(go[1]);
    int code = 1;
    try {
      auto db = sqlite::open_connection(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      sqlite::execute(db.get(), "PRAGMA journal_mode = WAL");
      sqlite::Transaction transaction(db.get());
      schema::migrate(db.get(), 0, schema::latest_version());
      char byte = 1;
      if (::write(ready[1], &byte, 1) == 1 && ::read(go[0], &byte, 1) >= 0) {
        transaction.commit();
        code = 0;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "creator: %s\n", e.what());
    }
    ::_exit(code);
  }
  ::close(ready[1]);
  ::close(go[0]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the creator failed; its error is on stderr";

  const auto log = std::make_shared<AwaitLog>("waiting for the process creating the store");
  spdlog::default_logger()->sinks().push_back(log);
  std::string error;
  int version = 0;
  std::thread reader([&] {
    try {
      StoreOptions options;
      options.busy_timeout = std::chrono::seconds(30);
      auto store = open(Access::read_only, options);
      version = store.schema_version();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  const bool waited = log->wait(std::chrono::seconds(30));
  ::close(go[1]);  // the creator commits
  reader.join();
  spdlog::default_logger()->sinks().pop_back();
  int status = 0;
  ::waitpid(creator, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the creator failed; its error is on stderr";
  EXPECT_TRUE(waited) << "the reader did not wait for the creator";
  EXPECT_EQ(error, "");
  EXPECT_EQ(version, schema::latest_version());
}

TEST_F(StoreTest, AnEmptyFileNobodyInitialisesIsStillNotAStore) {
  std::filesystem::create_directories(std::filesystem::path(db_path()).parent_path());
  std::ofstream(db_path()).flush();
  StoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(200);
  const std::string message = error_of([&] { open(Access::read_only, options); });
  EXPECT_NE(message.find("empty file, not an experiment store"), std::string::npos) << message;
}

}  // namespace
}  // namespace stride::tracker::testing
