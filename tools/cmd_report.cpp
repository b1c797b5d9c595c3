// `stride report SUBCOMMAND`: reads the experiment store (opened read-only, so
// a report never takes a write lock from running trials) and prints one of the
// views rendered by stride::tracker::report, writes the HTML page, or serves
// the live dashboard.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "cli.h"
#include "report_subcommands.h"
#include "stride/common/error.h"
#include "stride/common/log.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/tracker/dashboard.h"
#include "stride/tracker/report.h"
#include "stride/tracker/store.h"

namespace stride::tools {
namespace {

namespace report = tracker::report;

constexpr const char* kSubcommands =
    "experiments, trials, trial ID, compare ID ID..., decisions, html, serve, best, latest, export";

std::vector<int64_t> parse_ids(const std::vector<std::string>& texts) {
  std::vector<int64_t> ids;
  for (const auto& text : texts) ids.push_back(parse_int(text, "trial id"));
  return ids;
}

// Serves until SIGINT or SIGTERM. The signals are blocked in every thread and
// taken by one that waits for them, so stopping runs outside a signal handler.
int serve_dashboard(const std::string& db, const std::string& host, int port) {
  if (port < 0 || port > 65535) fail<ConfigError>("report serve: --port {} is not a port (0 to 65535)", port);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  tracker::dashboard::ServerOptions options;
  options.host = host;
  options.port = port;
  tracker::dashboard::Server server(db, options);
  if (host != "127.0.0.1" && host != "localhost" && host != "::1")
    spdlog::warn("report serve: bound to {}: whoever reaches this address can read the store", host);
  fmt::print("serving {} at {} (Ctrl-C stops)\n", db, server.url());
  std::fflush(stdout);
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  });
  server.run();
  pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if the server stopped by itself
  waiter.join();
  return 0;
}

}  // namespace

int run_report(const Args& args) {
  CommandLine command;
  command.usage = "stride report SUBCOMMAND [ID...] [--db PATH] [--format table|csv|json] [options]";
  command.summary =
      "Query the experiment store. Subcommands:\n"
      "  experiments                     trials by status, best value, last activity per experiment\n"
      "  trials                          leaderboard: swept hyperparameters and final metrics\n"
      "  trial ID                        parameters, curves, decisions, evaluation of one trial\n"
      "  compare ID ID...                trials side by side, differing fields marked '*'\n"
      "  decisions                       every early-stopping / plateau / pruning check\n"
      "  html --experiment NAME --out F  one self-contained page with plots and the leaderboard\n"
      "  serve [--port N] [--host ADDR]  live dashboard in the browser: leaderboard, curves, importance\n"
      "  best | latest --experiment NAME the best / latest finished trial's --field (default: checkpoint)\n"
      "  export --format mlflow|tensorboard --out DIR   the store as MLflow runs / TensorBoard event files";
  std::string db, format_name, sort, out, host;
  int port = 8050;
  std::optional<std::string> experiment;
  command.options.add_options()("db", po::value(&db)->default_value("runs/stride.db"), "experiment store")(
      "format", po::value(&format_name)->default_value("table"), "table, csv or json")(
      "experiment", po::value<std::string>(), "only this experiment")(
      "sort", po::value(&sort), "trials: a metric (best first), parameter or column; default: each trial's best")(
      "top", po::value<size_t>(), "trials: keep the first K")(
      "where", po::value<std::vector<std::string>>()->composing(),
      "trials: 'NAME OP VALUE' on a parameter, final metric or column (repeatable; all must hold)")(
      "trial", po::value<int64_t>(), "decisions: only this trial")(
      "changes-only", po::bool_switch(), "decisions: omit 'keep' checks")("out", po::value(&out),
                                                                          "html: the file to write")(
      "wide", po::bool_switch(), "trials, compare: long values whole (else shortened with '…' past 40 characters)")(
      "field", po::value<std::string>()->default_value("checkpoint"),
      "best, latest: checkpoint, id, experiment, status, metric, value, epoch or params");
  command.options.add_options()("port", po::value(&port)->default_value(8050), "serve: the port (0: any free one)")(
      "host", po::value(&host)->default_value("127.0.0.1"), "serve: the address to listen on");
  command.hidden.add_options()("subcommand", po::value<std::string>(), "")("ids", po::value<std::vector<std::string>>(),
                                                                           "");
  command.positional.add("subcommand", 1).add("ids", -1);
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (!vm->count("subcommand")) fail<ConfigError>("report: name a subcommand ({})", kSubcommands);
  const std::string subcommand = (*vm)["subcommand"].as<std::string>();
  if (vm->count("experiment")) experiment = (*vm)["experiment"].as<std::string>();
  if (subcommand == "export") {
    if (vm->count("ids")) fail<ConfigError>("report export: takes no positional arguments");
    auto store = tracker::Store::open(db, tracker::Access::read_only);
    return report_export(store, format_name, out, experiment);
  }
  const TableFormat format = parse_table_format(format_name);
  const auto ids =
      parse_ids(vm->count("ids") ? (*vm)["ids"].as<std::vector<std::string>>() : std::vector<std::string>{});
  auto no_ids = [&] {
    if (!ids.empty()) fail<ConfigError>("report {}: takes no positional arguments (got {})", subcommand, ids.size());
  };
  const report::Style style{is_terminal(stdout) && format == TableFormat::text, (*vm)["wide"].as<bool>()};

  if (subcommand != "experiments" && subcommand != "trials" && subcommand != "trial" && subcommand != "compare" &&
      subcommand != "decisions" && subcommand != "html" && subcommand != "serve" && subcommand != "best" &&
      subcommand != "latest") {
    const std::vector<std::string> known = {"experiments", "trials", "trial", "compare", "decisions",
                                            "html",        "serve",  "best",  "latest", "export"};
    const std::string suggestion = closest_match(subcommand, known);
    fail<ConfigError>("report: unknown subcommand '{}'{} (expected one of {})", subcommand,
                      suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?", kSubcommands);
  }
  if (subcommand == "serve") {
    no_ids();
    return serve_dashboard(db, host, port);
  }
  auto store = tracker::Store::open(db, tracker::Access::read_only);

  std::string text;
  if (subcommand == "experiments") {
    no_ids();
    text = report::render_experiments(store, format);
  } else if (subcommand == "trials") {
    no_ids();
    report::TrialsOptions options;
    options.experiment = experiment;
    if (!sort.empty()) options.sort = sort;
    if (vm->count("top")) options.top = (*vm)["top"].as<size_t>();
    if (vm->count("where")) options.where = (*vm)["where"].as<std::vector<std::string>>();
    options.wide = style.wide;
    text = report::render_trials(store, options, format);
  } else if (subcommand == "trial") {
    if (ids.size() != 1) fail<ConfigError>("report trial: give exactly one trial id (usage: stride report trial ID)");
    text = report::render_trial(store, ids.front(), format, style);
  } else if (subcommand == "compare") {
    if (ids.empty()) fail<ConfigError>("report compare: give the trial ids to compare (stride report compare 3 7 12)");
    text = report::render_compare(store, ids, format, style);
  } else if (subcommand == "best" || subcommand == "latest") {
    no_ids();
    text = report_pick(store, subcommand, experiment, (*vm)["field"].as<std::string>(), format);
  } else if (subcommand == "decisions") {
    no_ids();
    tracker::DecisionQuery query;
    query.experiment = experiment;
    if (vm->count("trial")) query.trial_id = (*vm)["trial"].as<int64_t>();
    if (!query.experiment && !query.trial_id)
      fail<ConfigError>("report decisions: give --experiment NAME (and optionally --trial ID)");
    query.include_keep = !(*vm)["changes-only"].as<bool>();
    text = report::render_decisions(store, query, format);
  } else {
    no_ids();
    if (!experiment) fail<ConfigError>("report html: give --experiment NAME");
    if (out.empty()) fail<ConfigError>("report html: give --out FILE");
    report::write_file_atomically(out, report::render_html(store, *experiment));
    fmt::print("wrote {}\n", out);
    return 0;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace stride::tools
