// What both exporters share (internal to the tracker library): the trials to
// export with their curves, names made safe as file names, and a staging
// directory beside the target so each trial's files appear by one rename.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "stride/tracker/export.h"

namespace stride::tracker::exporting {

struct ExportedTrial {
  TrialRecord record;
  std::vector<MetricSeries> curves;  // epoch-level points only
};

struct ExportedExperiment {
  ExperimentSummary summary;
  std::vector<ExportedTrial> trials;
};

// The experiments (one, or all) with their trials in id order. Throws
// StoreError naming an experiment that does not exist.
std::vector<ExportedExperiment> read_experiments(Store& store, const ExportOptions& options);

// One path component from any name: characters outside [A-Za-z0-9._ :-]
// become '_', and "", "." and ".." get a leading '_', so a name never
// reaches outside its directory.
std::string safe_file_name(std::string_view name);

// A fresh directory next to `target` (same file system, so renames are atomic),
// removed with what is left in it when the object goes.
class Staging {
 public:
  explicit Staging(const std::filesystem::path& target);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Moves staged `from` to `to`, replacing a directory or file already there.
  void replace(const std::filesystem::path& from, const std::filesystem::path& to);

 private:
  std::filesystem::path path_;
  int moves_ = 0;
};

// Writes a whole file (parents created); Error naming the file on failure.
void write_file(const std::filesystem::path& path, std::string_view bytes);

}  // namespace stride::tracker::exporting
