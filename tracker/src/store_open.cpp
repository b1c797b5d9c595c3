// Opening a store: where it may be, what the file is (identity, version),
// WAL mode and migration. The file is only ever opened by SQLite: closing any
// other descriptor of it (an ifstream reading its header, say) would drop
// every POSIX lock this process holds on it, and another process's close
// would then take the store for unused and delete the write-ahead log under
// this process's live connection. So the header is read through the
// connection (SQLITE_NOTADB), and where the file is, through stat/access.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "foreign.h"
#include "stride/tracker/schema.h"
#include "stride/tracker/store.h"

namespace stride::tracker {
namespace fs = std::filesystem;
namespace {

bool writable(const fs::path& path) { return ::access(path.c_str(), W_OK) == 0; }

fs::path directory_of(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

// A writer needs the file and its directory (SQLite keeps its -wal and -shm
// files beside the store): say so in one line rather than let SQLite fail at
// the first write with "attempt to write a readonly database".
void require_writable_location(const fs::path& path, bool exists) {
  const std::string file = path.string();
  if (exists && !writable(path))
    fail<StoreError>(
        "{}: the experiment store is read-only ({}); it can be reported (`stride report`) but "
        "nothing can be written to it",
        file, std::strerror(errno));
  const fs::path directory = directory_of(path);
  if (!writable(directory))
    fail<StoreError>(
        "{}: its directory {} is not writable ({}); a store needs to write its -wal and -shm files "
        "beside it",
        file, directory.string(), std::strerror(errno));
}

// A store nobody can write here (archived on a read-only directory or medium)
// is read as immutable: SQLite then needs no -shm file beside it. A -wal file
// left beside it holds commits the main file lacks, so then SQLite reads
// through the log (its read-only -shm mode) instead.
bool read_as_immutable(const fs::path& path) {
  if (writable(path) && writable(directory_of(path))) return false;
  std::error_code error;
  const auto log_size = fs::file_size(path.string() + "-wal", error);
  return error || log_size == 0;
}

void enable_wal(sqlite3* db, std::chrono::milliseconds give_up_after) {
  const auto deadline = std::chrono::steady_clock::now() + give_up_after;
  for (int attempt = 1;; ++attempt) {
    try {
      sqlite::Statement pragma(db, "PRAGMA journal_mode = WAL");
      const std::string mode = pragma.step() ? pragma.column_text(0) : "";
      if (mode != "wal")
        fail<StoreError>("{}: cannot switch to WAL mode (journal mode '{}')", sqlite::database_path(db), mode);
      return;
    } catch (const StoreBusyError&) {
      if (!sqlite::detail::backoff(attempt, deadline)) throw;
    }
  }
}

// The file's identity, read through the connection: SQLite itself reports a
// file that is not a database.
schema::FileIdentity read_identity(sqlite3* db, const std::string& path) {
  const int status = sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1", nullptr, nullptr, nullptr);
  if ((status & 0xff) == SQLITE_NOTADB)
    fail<StoreError>("{}: not a Stride experiment store (not an SQLite database)", path);
  STRIDE_SQLITE_CHECK(db, status);
  return schema::identify(db);
}

// A reader may open a store its creator is still initialising (the file is
// there, its first migration not yet committed): it waits, up to the busy
// timeout, for the identity to appear, as it waits for a lock.
schema::FileIdentity wait_for_identity(sqlite3* db, const std::string& path, Access access, bool immutable,
                                       std::chrono::milliseconds give_up_after) {
  const auto deadline = std::chrono::steady_clock::now() + give_up_after;
  bool said = false;
  for (int attempt = 1;; ++attempt) {
    try {
      const schema::FileIdentity identity = read_identity(db, path);
      if (access == Access::read_write || immutable || !identity.empty()) return identity;
      if (!said) spdlog::info("{}: waiting for the process creating the store to initialise it", path);
      said = true;
      if (!sqlite::detail::backoff(attempt, deadline)) return identity;
    } catch (const StoreBusyError&) {
      if (!sqlite::detail::backoff(attempt, deadline)) throw;
    }
  }
}

void check_identity(const schema::FileIdentity& identity, const std::string& path) {
  if (!identity.empty() && identity.application_id != schema::kApplicationId)
    fail<StoreError>(
        "{}: not a Stride experiment store (an SQLite database with application_id {:#x} and {} tables, "
        "e.g. '{}')",
        path, static_cast<uint32_t>(identity.application_id), identity.table_count, identity.first_table);
  if (identity.user_version > schema::latest_version())
    fail<StoreError>("{}: store schema version {} is newer than this build of stride supports ({}); use a newer stride",
                     path, identity.user_version, schema::latest_version());
}

// Migrates inside one write transaction; re-reads the version there because
// another process may have created or migrated the store meanwhile.
void migrate_store(sqlite3* db, const std::string& path, std::chrono::milliseconds give_up_after) {
  sqlite::with_write_transaction(db, give_up_after, [&] {
    const auto identity = schema::identify(db);
    check_identity(identity, path);
    if (identity.user_version < schema::latest_version())
      schema::migrate(db, identity.user_version, schema::latest_version());
  });
}

}  // namespace

Store Store::open(const fs::path& path, Access access, StoreOptions options) {
  const std::string file = path.string();
  if (file.empty()) fail<StoreError>("experiment store path is empty");
  std::error_code error;
  if (fs::is_directory(path, error)) fail<StoreError>("{}: is a directory, not an experiment store", file);
  const bool exists = fs::exists(path, error);
  if (access == Access::read_only && !exists) fail<StoreError>("{}: no experiment store there", file);
  if (!exists && path.has_parent_path()) {
    fs::create_directories(path.parent_path(), error);
    if (error)
      fail<StoreError>("{}: cannot create directory {}: {}", file, path.parent_path().string(), error.message());
  }

  const bool immutable = access == Access::read_only && read_as_immutable(path);
  sqlite::Connection db;
  if (access == Access::read_write) {
    require_writable_location(path, exists);
    db = sqlite::open_connection(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_db_readonly(db.get(), "main") == 1)
      fail<StoreError>(
          "{}: the experiment store is read-only; it can be reported (`stride report`) but nothing can "
          "be written to it",
          file);
  } else {
    db = immutable ? sqlite::open_immutable(file) : sqlite::open_connection(file, SQLITE_OPEN_READONLY);
  }
  STRIDE_SQLITE_CHECK(db.get(), sqlite3_busy_timeout(db.get(), static_cast<int>(options.busy_timeout.count())));
  sqlite::execute(db.get(), "PRAGMA foreign_keys = ON");
  const auto identity = wait_for_identity(db.get(), file, access, immutable, options.busy_timeout);
  check_identity(identity, file);
  if (access == Access::read_only) {
    if (identity.empty()) fail<StoreError>("{}: empty file, not an experiment store", file);
    if (identity.user_version < schema::latest_version())
      fail<StoreError>(
          "{}: store schema version {} must be migrated to {} before it can be read; open it read-write "
          "once (any `stride train` on it does)",
          file, identity.user_version, schema::latest_version());
  } else {
    enable_wal(db.get(), options.write_retry_limit);
    // WAL + NORMAL: a commit survives a crash of the process; only a power loss may drop the last ones.
    sqlite::execute(db.get(), "PRAGMA synchronous = NORMAL");
    if (identity.user_version < schema::latest_version()) migrate_store(db.get(), file, options.write_retry_limit);
  }
  foreign::warn_about_foreign_tables(db.get(), file);
  Store store(std::move(db), file, access, options);
  store.reap_dead_trials();
  return store;
}

}  // namespace stride::tracker
