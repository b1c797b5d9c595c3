// Reading what to export, safe names and the staging directory.
#include "export_util.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "stride/common/error.h"

namespace stride::tracker::exporting {
namespace fs = std::filesystem;

std::vector<ExportedExperiment> read_experiments(Store& store, const ExportOptions& options) {
  if (options.experiment && !store.find_experiment(*options.experiment))
    fail<StoreError>("{}: no experiment '{}'", store.path(), *options.experiment);
  std::vector<ExportedExperiment> out;
  for (const ExperimentSummary& summary : store.experiments()) {
    if (options.experiment && summary.name != *options.experiment) continue;
    ExportedExperiment experiment{summary, {}};
    TrialQuery query;
    query.experiment = summary.name;
    query.with_config = true;
    std::vector<TrialRecord> trials = store.trials(query);
    std::sort(trials.begin(), trials.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (TrialRecord& t : trials) {
      const std::vector<int64_t> ids = {t.id};
      experiment.trials.push_back({std::move(t), store.metric_series(ids)});
    }
    out.push_back(std::move(experiment));
  }
  return out;
}

std::string safe_file_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-' || c == ' ' || c == ':';
    out += plain ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") {
    std::string prefixed(1, '_');
    prefixed += out;
    return prefixed;
  }
  return out;
}

Staging::Staging(const fs::path& target) {
  const fs::path absolute = fs::absolute(target).lexically_normal();
  const fs::path parent = absolute.has_filename() ? absolute.parent_path() : absolute.parent_path().parent_path();
  std::error_code error;
  fs::create_directories(parent, error);
  if (error) fail<Error>("{}: cannot create directory: {}", parent.string(), error.message());
  std::string pattern = (parent / fmt::format(".{}.export-XXXXXX", absolute.filename().string())).string();
  if (mkdtemp(pattern.data()) == nullptr) fail<Error>("{}: cannot create a staging directory", parent.string());
  path_ = pattern;
}

Staging::~Staging() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void Staging::replace(const fs::path& from, const fs::path& to) {
  std::error_code error;
  fs::create_directories(to.parent_path(), error);
  if (error) fail<Error>("{}: cannot create directory: {}", to.parent_path().string(), error.message());
  // What was there moves into the staging directory first (removed with it), so `to` is never half written.
  if (fs::exists(fs::symlink_status(to))) {
    fs::rename(to, path_ / fmt::format(".replaced-{}", ++moves_), error);
    if (error) fail<Error>("{}: cannot replace: {}", to.string(), error.message());
  }
  fs::rename(from, to, error);
  if (error) fail<Error>("{}: cannot write: {}", to.string(), error.message());
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) fail<Error>("{}: cannot create directory: {}", path.parent_path().string(), error.message());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.flush();
  if (!file) fail<Error>("{}: write failed", path.string());
}

}  // namespace stride::tracker::exporting
