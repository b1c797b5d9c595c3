// The thin RAII layer over the SQLite3 C API that the experiment store is
// written against: a connection and a statement owned by UniqueHandle, a
// move-only Statement with typed bind/column calls, and a Transaction that
// rolls back unless committed. Every sqlite3_* call that returns a status goes
// through STRIDE_SQLITE_CHECK, the one place a status becomes a StoreError;
// SQLITE_BUSY / SQLITE_LOCKED become StoreBusyError so writers can retry;
// a full disk (SQLITE_FULL, or an I/O error whose errno is ENOSPC) says
// "no space left on device".
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "stride/common/error.h"
#include "stride/common/handle.h"

namespace stride::tracker {

// Another connection holds the lock this one needs (SQLITE_BUSY / SQLITE_LOCKED).
class StoreBusyError : public StoreError {
 public:
  using StoreError::StoreError;
};

namespace sqlite {

// Throws StoreError (StoreBusyError for busy/locked) unless `status` is one of
// SQLITE_OK, SQLITE_ROW or SQLITE_DONE; returns the status otherwise. The message
// names the database file, SQLite's own message and the failing expression.
int check(int status, sqlite3* db, const char* expression, const char* file, int line);
#define STRIDE_SQLITE_CHECK(db, expr) ::stride::tracker::sqlite::check((expr), (db), #expr, __FILE__, __LINE__)

struct ConnectionTraits {
  static sqlite3* invalid() noexcept { return nullptr; }
  static void close(sqlite3* db) noexcept;  // sqlite3_close_v2; logs a failure
};
struct StatementTraits {
  static sqlite3_stmt* invalid() noexcept { return nullptr; }
  static void close(sqlite3_stmt* statement) noexcept { sqlite3_finalize(statement); }
};
using Connection = UniqueHandle<sqlite3*, ConnectionTraits>;

// Opens `path` with SQLITE_OPEN_* `flags` (URI filenames off). Throws StoreError naming the path.
Connection open_connection(const std::string& path, int flags);
// Opens `path` read-only as immutable (no locks, no -shm file): for a file no
// process can change, such as one on a read-only directory or medium.
Connection open_immutable(const std::string& path);

// The file name SQLite has for this connection's main database ("" for :memory:).
std::string database_path(sqlite3* db);

// Runs one or more statements without results (DDL, PRAGMA with no row).
void execute(sqlite3* db, std::string_view sql);

// A prepared statement. Bind indices are 1-based, column indices 0-based,
// as in the C API. Not copyable; movable.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, bool value) { return bind(index, static_cast<int64_t>(value ? 1 : 0)); }
  Statement& bind(int index, std::nullptr_t);
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }
  // Binds every argument in order, starting at index 1.
  template <typename... Values>
  Statement& bind_all(const Values&... values) {
    int index = 0;
    (bind(++index, values), ...);
    return *this;
  }

  // Advances; true while a row is available.
  bool step();
  // Steps to completion, ignoring rows (INSERT/UPDATE/DELETE).
  void run();
  // Ready to run again with new bindings.
  void reset();

  bool is_null(int column) const;
  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::optional<int64_t> column_optional_int(int column) const;
  std::optional<double> column_optional_double(int column) const;
  std::optional<std::string> column_optional_text(int column) const;
  int column_type(int column) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL

  sqlite3_stmt* get() const { return statement_.get(); }

 private:
  sqlite3* db_;
  UniqueHandle<sqlite3_stmt*, StatementTraits> statement_;
};

// One transaction. IMMEDIATE takes the write lock at BEGIN, so a writer either
// gets it (waiting up to the busy timeout) or fails before doing any work;
// DEFERRED is for readers that want one consistent snapshot.
class Transaction {
 public:
  enum class Kind { deferred, immediate };
  explicit Transaction(sqlite3* db, Kind kind = Kind::immediate);
  ~Transaction();  // rolls back unless committed; never throws
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();

 private:
  sqlite3* db_;
  bool open_ = false;
};

// Runs `body` inside an IMMEDIATE transaction and commits. When another writer
// holds the lock past the busy timeout (StoreBusyError), the transaction is
// rolled back and retried with exponential backoff and jitter until
// `give_up_after` has passed; then the last StoreBusyError propagates.
template <typename Body>
auto with_write_transaction(sqlite3* db, std::chrono::milliseconds give_up_after, Body&& body);

namespace detail {
// Sleeps before retry `attempt` (1, 2, ...); false once the deadline has passed.
bool backoff(int attempt, std::chrono::steady_clock::time_point deadline);
}  // namespace detail

template <typename Body>
auto with_write_transaction(sqlite3* db, std::chrono::milliseconds give_up_after, Body&& body) {
  const auto deadline = std::chrono::steady_clock::now() + give_up_after;
  for (int attempt = 1;; ++attempt) {
    try {
      Transaction transaction(db, Transaction::Kind::immediate);
      if constexpr (std::is_void_v<decltype(body())>) {
        body();
        transaction.commit();
        return;
      } else {
        auto result = body();
        transaction.commit();
        return result;
      }
    } catch (const StoreBusyError&) {
      if (!detail::backoff(attempt, deadline)) throw;
    }
  }
}

}  // namespace sqlite
}  // namespace stride::tracker
