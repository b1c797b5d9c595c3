// The slower round trips with the real tools: MLflow's own migration carries
// an export into its database backend (what recent MLflow uses by default);
// and neither MLflow nor Optuna can change a Stride store opened the way
// docs/STORE.md says (SQLite's read-only URI), while one they were pointed at
// plainly keeps Stride's data and is named by the next `stride` that opens it.
#include <sqlite3.h>

#include "export_fixture.h"
#include "stride/tracker/report.h"

namespace stride::tracker::testing {
namespace {

std::string file_bytes(const fs::path& path) { return read_text(path); }

TEST_F(ExportTest, MlflowMigratesTheExportIntoItsDatabaseBackend) {
  if (!have_python_module("mlflow")) GTEST_SKIP() << "mlflow is not installed in " << STRIDE_TEST_PYTHON;
  auto store = open(Access::read_only);
  export_mlflow(store, dir_ / "mlruns");
  const fs::path mlflow = fs::path(STRIDE_TEST_PYTHON).parent_path() / "mlflow";
  const fs::path log = dir_ / "migrate.log";
  ASSERT_EQ(0,
            stride::testing::run_process({mlflow.string(), "migrate-filestore", "--source", (dir_ / "mlruns").string(),
                                          "--target", "sqlite:///" + (dir_ / "mlflow.db").string(), "--no-progress"},
                                         log))
      << read_text(log);
  const auto seen = run_script("read_mlflow.py", {"sqlite:///" + (dir_ / "mlflow.db").string()});
  ASSERT_FALSE(seen.is_discarded());
  ASSERT_EQ(seen["runs"].size(), 5u);
  for (const auto& run : seen["runs"]) {
    const std::string name = run["name"];
    const TrialRecord t = store.trial(std::stoll(name.substr(name.find('-') + 1)));
    EXPECT_EQ(run["params"].size(), t.params.size()) << name;
    EXPECT_EQ(run["params"]["train.lr"], t.params.at("train.lr").to_string()) << name;
  }
}

TEST_F(ExportTest, ToolsOpeningTheStoreReadOnlyCannotChangeIt) {
  if (!have_python_module("mlflow") || !have_python_module("optuna"))
    GTEST_SKIP() << "mlflow or optuna is not installed in " << STRIDE_TEST_PYTHON;
  const std::string before = file_bytes(db_path());
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(fs::exists(db_path() + "-wal")) << "the store should be checkpointed once its writer closed";
  const auto said = run_script("foreign_writers.py", {db_path(), "readonly"});
  ASSERT_FALSE(said.is_discarded());
  // Both try to create their tables and are refused by SQLite.
  for (const char* tool : {"mlflow", "optuna"}) {
    ASSERT_TRUE(said[tool].is_string()) << tool << " changed nothing but reported no error either";
    EXPECT_NE(said[tool].get<std::string>().find("readonly database"), std::string::npos) << said[tool];
  }
  EXPECT_EQ(file_bytes(db_path()), before) << "the store's bytes changed";
}

TEST_F(ExportTest, AStoreToolsWrotePlainlyKeepsItsDataAndIsNamedAsSuch) {
  if (!have_python_module("mlflow") || !have_python_module("optuna"))
    GTEST_SKIP() << "mlflow or optuna is not installed in " << STRIDE_TEST_PYTHON;
  const auto report = [&] {
    auto store = open(Access::read_only);
    report::TrialsOptions options;
    return report::render_trials(store, options, TableFormat::csv);
  };
  const std::string before = report();
  run_script("foreign_writers.py", {db_path(), "ordinary"});
  EXPECT_EQ(report(), before) << "Stride's trials changed";
  // The next stride to open it says which tables are not its own.
  const fs::path log = dir_ / "report.log";
  ASSERT_EQ(0, stride::testing::run_process({STRIDE_BINARY, "report", "trials", "--db", db_path()}, log));
  const std::string text = read_text(log);
  EXPECT_NE(text.find("holds tables Stride does not create"), std::string::npos) << text;
  EXPECT_NE(text.find("alembic_version"), std::string::npos) << text;
  EXPECT_NE(text.find("studies"), std::string::npos) << text;  // Optuna's
  EXPECT_NE(text.find("runs"), std::string::npos) << text;     // MLflow's
}

}  // namespace
}  // namespace stride::tracker::testing
