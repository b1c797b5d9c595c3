// SQLite status codes become exceptions here and nowhere else; connections
// close with sqlite3_close_v2 so a statement still alive cannot leak the file.
#include "stride/tracker/sqlite.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

namespace stride::tracker::sqlite {

int check(int status, sqlite3* db, const char* expression, const char* file, int line) {
  if (status == SQLITE_OK || status == SQLITE_ROW || status == SQLITE_DONE) return status;
  const std::string where = db ? database_path(db) : std::string();
  const char* message = db ? sqlite3_errmsg(db) : sqlite3_errstr(status);
  const int primary = status & 0xff;
  // A full disk reads as what it is, whichever call met it: SQLite says
  // SQLITE_FULL for a short write, a "disk I/O error" when growing its -shm
  // or syncing fails with ENOSPC.
  const bool full = primary == SQLITE_FULL || (primary == SQLITE_IOERR && db && sqlite3_system_errno(db) == ENOSPC);
  const std::string text =
      fmt::format("{}: {}{} (SQLite code {}, {} at {}:{})", where.empty() ? "store" : where,
                  full ? "no space left on device; " : "", message, status, expression, file, line);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw StoreBusyError(text);
  throw StoreError(text);
}

void ConnectionTraits::close(sqlite3* db) noexcept {
  const int status = sqlite3_close_v2(db);
  if (status != SQLITE_OK) spdlog::warn("closing the experiment store failed: {}", sqlite3_errstr(status));
}

Connection open_connection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int status = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);  // owns the handle even when opening failed
  if (status != SQLITE_OK)
    fail<StoreError>("{}: cannot open the experiment store: {}", path,
                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(status));
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Connection open_immutable(const std::string& path) {
  // A URI filename: every byte outside the unreserved set and '/' percent-encoded.
  std::string uri = "file:";
  for (const unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~')
      uri += static_cast<char>(c);
    else
      uri += fmt::format("%{:02X}", c);
  }
  uri += "?immutable=1";
  sqlite3* raw = nullptr;
  const int status = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  Connection db(raw);
  if (status != SQLITE_OK)
    fail<StoreError>("{}: cannot open the experiment store: {}", path,
                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(status));
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

std::string database_path(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  return name ? std::string(name) : std::string();
}

void execute(sqlite3* db, std::string_view sql) {
  const std::string text(sql);
  STRIDE_SQLITE_CHECK(db, sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr));
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  sqlite3_stmt* raw = nullptr;
  STRIDE_SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr));
  statement_.reset(raw);
}

Statement& Statement::bind(int index, int64_t value) {
  STRIDE_SQLITE_CHECK(db_, sqlite3_bind_int64(statement_.get(), index, value));
  return *this;
}

Statement& Statement::bind(int index, double value) {
  STRIDE_SQLITE_CHECK(db_, sqlite3_bind_double(statement_.get(), index, value));
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  STRIDE_SQLITE_CHECK(
      db_, sqlite3_bind_text64(statement_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
  STRIDE_SQLITE_CHECK(db_, sqlite3_bind_null(statement_.get(), index));
  return *this;
}

bool Statement::step() { return STRIDE_SQLITE_CHECK(db_, sqlite3_step(statement_.get())) == SQLITE_ROW; }

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_.get());  // returns the last step's error, already reported by step()
  sqlite3_clear_bindings(statement_.get());
}

bool Statement::is_null(int column) const { return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL; }
int Statement::column_type(int column) const { return sqlite3_column_type(statement_.get(), column); }
int64_t Statement::column_int(int column) const { return sqlite3_column_int64(statement_.get(), column); }
double Statement::column_double(int column) const { return sqlite3_column_double(statement_.get(), column); }

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_.get(), column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(statement_.get(), column)));
}

std::optional<int64_t> Statement::column_optional_int(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_int(column);
}
std::optional<double> Statement::column_optional_double(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_double(column);
}
std::optional<std::string> Statement::column_optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_text(column);
}

Transaction::Transaction(sqlite3* db, Kind kind) : db_(db) {
  execute(db_, kind == Kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  open_ = true;
}

Transaction::~Transaction() {
  if (!open_) return;
  const int status = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  // An error that already rolled the transaction back leaves nothing to undo.
  if (status != SQLITE_OK && !sqlite3_get_autocommit(db_))
    spdlog::warn("{}: rollback failed: {}", database_path(db_), sqlite3_errmsg(db_));
}

void Transaction::commit() {
  execute(db_, "COMMIT");
  open_ = false;
}

namespace detail {

bool backoff(int attempt, std::chrono::steady_clock::time_point deadline) {
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline) return false;
  thread_local std::minstd_rand jitter(std::random_device{}());
  // 5 ms doubling to 1 s, each wait scaled by a random factor in [0.5, 1.5).
  const double base_ms = std::min(1000.0, 5.0 * static_cast<double>(1u << std::min(attempt, 8)));
  const double factor = 0.5 + std::uniform_real_distribution<double>(0.0, 1.0)(jitter);
  auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(base_ms * factor));
  std::this_thread::sleep_for(std::min(wait, deadline - now));
  return true;
}

}  // namespace detail
}  // namespace stride::tracker::sqlite
