// Subcommands of `stride report` kept in files of their own (cmd_report.cpp
// parses the options and dispatches).
#pragma once

#include <optional>
#include <string>

#include "stride/common/table.h"
#include "stride/tracker/store.h"

namespace stride::tools {

// `stride report best|latest --experiment NAME [--field F]`: one field of the
// best (or latest) finished trial, alone on a line for scripts
// ($(stride report best --experiment X)); --format json prints the trial.
std::string report_pick(tracker::Store& store, const std::string& subcommand,
                        const std::optional<std::string>& experiment, const std::string& field, TableFormat format);

// `stride report export --format mlflow|tensorboard --out DIR [--experiment NAME]`.
int report_export(tracker::Store& store, const std::string& format, const std::string& out,
                  const std::optional<std::string>& experiment);

}  // namespace stride::tools
