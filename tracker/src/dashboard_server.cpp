// The dashboard's HTTP side (cpp-httplib): routes, query parsing, errors as
// JSON, and the embedded assets. One read-only Store serves every request,
// one request at a time: a Store is not shared between threads, and each
// answer is a few short read transactions, so requests wait microseconds,
// never for a writer.
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dashboard_assets.h"
#include "stride/common/error.h"
#include "stride/common/log.h"
#include "stride/common/strings.h"
#include "stride/tracker/dashboard.h"
#include "stride/tracker/sqlite.h"

namespace stride::tracker::dashboard {
namespace {

using nlohmann::json;

// A request for something that does not exist: answered 404.
class NotFound : public Error {
 public:
  using Error::Error;
};

// With the charset, cpp-httplib does not Brotli-compress the answer: on a
// local connection compressing costs far more time than it saves.
void send_json(httplib::Response& response, const json& body, int status = 200) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json; charset=utf-8");
}

std::optional<std::string> optional_param(const httplib::Request& request, const char* name) {
  if (!request.has_param(name)) return std::nullopt;
  std::string value = request.get_param_value(name);
  if (value.empty()) return std::nullopt;
  return value;
}

std::vector<std::string> list_param(const httplib::Request& request, const char* name) {
  std::vector<std::string> items;
  for (size_t i = 0; i < request.get_param_value_count(name); ++i)
    for (auto& item : split(request.get_param_value(name, i), ',', true)) items.push_back(trim(item));
  std::erase_if(items, [](const std::string& item) { return item.empty(); });
  return items;
}

std::vector<int64_t> id_list(const httplib::Request& request, const char* name) {
  std::vector<int64_t> ids;
  for (const auto& text : list_param(request, name)) ids.push_back(parse_int(text, fmt::format("{} '{}'", name, text)));
  return ids;
}

void require_trials(Store& store, std::span<const int64_t> ids) {
  TrialQuery query;
  query.ids.assign(ids.begin(), ids.end());
  const auto found = store.trials(query);
  for (int64_t id : ids)
    if (std::none_of(found.begin(), found.end(), [&](const auto& t) { return t.id == id; }))
      fail<NotFound>("no trial {} in {}", id, store.path());
}

bool loopback(std::string_view host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

// "127.0.0.1:8050", "localhost:8050", "[::1]:8050" (or without the port).
bool loopback_host_header(std::string_view header) {
  std::string_view name = header;
  if (starts_with(name, "[")) {
    name = name.substr(1, name.find(']') == std::string_view::npos ? 0 : name.find(']') - 1);
  } else if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return loopback(name);
}

}  // namespace

struct Server::State {
  Store store;
  std::mutex store_mutex;
  httplib::Server http;
  std::string host;
  int port = 0;
  std::thread thread;
  // run() and stop() may race (a signal handled on another thread): each
  // sets its own flag before reading the other's, so one of them sees both.
  std::atomic<bool> serving{false};
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> finished{false};

  State(Store opened, std::string bound_host) : store(std::move(opened)), host(std::move(bound_host)) {}

  // Runs `body` on the store under the lock; errors become JSON answers.
  template <typename Body>
  void answer(httplib::Response& response, Body&& body) {
    try {
      json result;
      {
        std::lock_guard lock(store_mutex);
        result = body();
      }
      send_json(response, result);
    } catch (const NotFound& e) {
      send_json(response, {{"error", e.what()}}, 404);
    } catch (const StoreBusyError& e) {
      send_json(response, {{"error", e.what()}}, 503);  // the next poll tries again
    } catch (const Error& e) {
      send_json(response, {{"error", e.what()}}, 400);
    } catch (const std::exception& e) {
      spdlog::error("report serve: {}", e.what());
      send_json(response, {{"error", e.what()}}, 500);
    }
  }

  void send_asset(httplib::Response& response, std::string_view name) {
    const detail::Asset* asset = detail::find_asset(name);
    if (!asset) {
      send_json(response, {{"error", fmt::format("no such file: {}", name)}}, 404);
      return;
    }
    response.set_content(asset->bytes.data(), asset->bytes.size(), std::string(asset->content_type).c_str());
  }

  void add_routes() {
    http.Get("/", [this](const httplib::Request&, httplib::Response& response) { send_asset(response, "index.html"); });
    http.Get(R"(/trial/(\d+))",
             [this](const httplib::Request&, httplib::Response& response) { send_asset(response, "trial.html"); });
    http.Get(R"(/assets/([A-Za-z0-9_.-]+))", [this](const httplib::Request& request, httplib::Response& response) {
      send_asset(response, request.matches[1].str());
    });
    http.Get("/api/experiments", [this](const httplib::Request&, httplib::Response& response) {
      answer(response, [&] { return experiments_json(store); });
    });
    http.Get("/api/trials", [this](const httplib::Request& request, httplib::Response& response) {
      answer(response, [&] {
        TrialsRequest query;
        query.experiment = optional_param(request, "experiment");
        query.sort = optional_param(request, "sort");
        for (size_t i = 0; i < request.get_param_value_count("where"); ++i) {
          const std::string condition = trim(request.get_param_value("where", i));
          if (!condition.empty()) query.where.push_back(condition);
        }
        return trials_json(store, query);
      });
    });
    http.Get(R"(/api/trial/(\d+))", [this](const httplib::Request& request, httplib::Response& response) {
      answer(response, [&] {
        const std::vector<int64_t> id = {parse_int(request.matches[1].str(), "trial id")};
        require_trials(store, id);
        return trial_detail_json(store, id.front());
      });
    });
    http.Get("/api/curves", [this](const httplib::Request& request, httplib::Response& response) {
      answer(response, [&] {
        const auto ids = id_list(request, "ids");
        if (ids.empty()) fail<ConfigError>("give the trials as ids=1,2,...");
        require_trials(store, ids);
        const auto metrics = list_param(request, "metrics");
        return curves_json(store, ids, metrics);
      });
    });
    http.Get("/api/importance", [this](const httplib::Request& request, httplib::Response& response) {
      answer(response, [&] {
        const auto experiment = optional_param(request, "experiment");
        if (!experiment) fail<ConfigError>("give the experiment as experiment=NAME");
        return importance_json(store, *experiment, optional_param(request, "metric"));
      });
    });
    // Bound to loopback, only requests addressed to loopback are answered: a
    // web page elsewhere cannot rebind its own name to 127.0.0.1 and read the store.
    http.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
      if (!loopback(host) || loopback_host_header(request.get_header_value("Host")))
        return httplib::Server::HandlerResponse::Unhandled;
      send_json(response, {{"error", "requests must be addressed to 127.0.0.1 or localhost"}}, 403);
      return httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
      if (response.body.empty())
        send_json(response, {{"error", fmt::format("no such path: {}", request.path)}}, response.status);
    });
  }
};

Server::Server(const std::filesystem::path& db, const ServerOptions& options)
    : state_(std::make_unique<State>(Store::open(db, Access::read_only, options.store), options.host)) {
  state_->add_routes();
  // Browsers keep connections open between polls; a short keep-alive frees the worker threads.
  state_->http.set_keep_alive_timeout(2);
  // httplib's default is SO_REUSEPORT, with which a second server on the same
  // port would silently share (and split) the requests. SO_REUSEADDR alone
  // still allows a restart while old connections linger in TIME_WAIT.
  state_->http.set_socket_options([](socket_t socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  state_->port = options.port == 0 ? state_->http.bind_to_any_port(options.host)
                                   : (state_->http.bind_to_port(options.host, options.port) ? options.port : -1);
  if (state_->port <= 0)
    fail<ConfigError>("report serve: cannot listen on {}:{} (port in use, or not an address of this host)",
                      options.host, options.port);
}

Server::~Server() { stop(); }

int Server::port() const { return state_->port; }

std::string Server::url() const {
  const bool ipv6 = state_->host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/", ipv6 ? "[" : "", state_->host, ipv6 ? "]" : "", state_->port);
}

void Server::run() {
  state_->serving = true;
  if (!state_->stop_requested) state_->http.listen_after_bind();
  state_->finished = true;
}

void Server::start() {
  if (state_->thread.joinable()) return;
  state_->serving = true;
  state_->thread = std::thread([this] { run(); });
}

void Server::stop() {
  state_->stop_requested = true;
  // httplib's stop() only takes effect once listening has begun: wait for that (or for run() to return).
  if (state_->serving) {
    while (!state_->http.is_running() && !state_->finished) std::this_thread::yield();
    state_->http.stop();
  }
  if (state_->thread.joinable() && state_->thread.get_id() != std::this_thread::get_id()) state_->thread.join();
}

}  // namespace stride::tracker::dashboard
