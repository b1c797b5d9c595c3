// The store as TensorBoard event files: DIR/EXPERIMENT/trial-ID/ per trial
// (TensorBoard's run "EXPERIMENT/trial-ID"), one file of TFRecord-framed
// tensorflow.Event messages: the file version first, then one event per epoch
// with every metric of that epoch as a scalar (step = epoch, wall time = when
// it was logged). The messages come from protoc (tracker/proto); the framing
// is TFRecord's: length (uint64, little-endian), its masked CRC-32C, the
// bytes, their masked CRC-32C (Boost.CRC with the Castagnoli polynomial).
#include <boost/crc.hpp>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "export_util.h"
#include "stride/common/error.h"
#include "tensorboard_event.pb.h"

namespace stride::tracker {
namespace fs = std::filesystem;

namespace {

uint32_t masked_crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  const uint32_t c = crc.checksum();
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

void append_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

void append_record(std::string& out, const tensorflow::Event& event) {
  std::string data;
  if (!event.SerializeToString(&data)) fail<Error>("cannot encode a TensorBoard event");
  std::string header;
  append_le(header, data.size(), 8);
  out += header;
  append_le(out, masked_crc32c(header.data(), header.size()), 4);
  out += data;
  append_le(out, masked_crc32c(data.data(), data.size()), 4);
}

std::string event_file(const exporting::ExportedTrial& trial, int64_t& points) {
  std::string out;
  tensorflow::Event version;
  version.set_wall_time(trial.record.started_at);
  version.set_file_version("brain.Event:2");
  append_record(out, version);
  // Epoch -> (wall time, metric -> value): one event per epoch.
  std::map<int64_t, std::pair<double, std::map<std::string, double>>> epochs;
  for (const MetricSeries& series : trial.curves)
    for (const MetricPoint& p : series.points) {
      auto& [wall_time, values] = epochs[p.epoch];
      wall_time = std::max(wall_time, p.wall_time);
      values[series.name] = p.value;
    }
  for (const auto& [epoch, entry] : epochs) {
    tensorflow::Event event;
    event.set_wall_time(entry.first);
    event.set_step(epoch);
    for (const auto& [name, value] : entry.second) {
      tensorflow::Summary::Value* v = event.mutable_summary()->add_value();
      v->set_tag(name);
      v->set_simple_value(static_cast<float>(value));
      ++points;
    }
    append_record(out, event);
  }
  return out;
}

}  // namespace

ExportSummary export_tensorboard(Store& store, const fs::path& dir, const ExportOptions& options) {
  const auto experiments = exporting::read_experiments(store, options);
  if (fs::exists(dir) && !fs::is_directory(dir)) fail<Error>("{}: exists and is not a directory", dir.string());
  exporting::Staging staging(dir);
  ExportSummary summary;
  for (const auto& experiment : experiments) {
    const fs::path experiment_dir = dir / exporting::safe_file_name(experiment.summary.name);
    for (const auto& trial : experiment.trials) {
      const TrialRecord& t = trial.record;
      // A fixed name per trial: a rerun replaces the file instead of adding a second copy of every point.
      const std::string name = fmt::format("events.out.tfevents.{}.{}.stride", static_cast<int64_t>(t.started_at),
                                           exporting::safe_file_name(t.host));
      const fs::path staged = staging.path() / fmt::format("trial-{}", t.id);
      exporting::write_file(staged / name, event_file(trial, summary.metric_points));
      staging.replace(staged, experiment_dir / fmt::format("trial-{}", t.id));
      ++summary.trials;
    }
    ++summary.experiments;
  }
  return summary;
}

}  // namespace stride::tracker
