// The SQL seam under the storage: one small connection interface with a SQLite and a PostgreSQL
// implementation. Statements are written once, with PostgreSQL's `$1..$N` placeholders; the
// SQLite connection rewrites them to `?1..?N`. Values travel as text, integers or doubles.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chorus::server {

/// A bound parameter.
using SqlValue = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

/// One row: each column as text (SQL NULL as nullopt).
using SqlRow = std::vector<std::optional<std::string>>;

struct SqlResult {
  std::vector<SqlRow> rows;
  std::int64_t affected = 0;  ///< Rows changed by INSERT/UPDATE/DELETE.
};

/// Thrown by connections. `unique_violation` lets callers map duplicates to 409.
class StorageError : public std::runtime_error {
 public:
  StorageError(std::string message, bool unique_violation = false)
      : std::runtime_error(std::move(message)), unique_violation_(unique_violation) {}
  bool unique_violation() const noexcept { return unique_violation_; }

 private:
  bool unique_violation_;
};

/// A database connection. Not thread-safe: the server uses it from its one io thread.
class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  /// "sqlite" or "postgres".
  virtual std::string_view dialect() const noexcept = 0;
  /// Runs one statement with `$N` placeholders; throws StorageError.
  virtual SqlResult exec(std::string_view sql, std::span<const SqlValue> params = {}) = 0;
  /// Runs several statements without parameters (migrations).
  virtual void exec_script(std::string_view sql) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  /// Serialises migrations across server instances sharing one database (PostgreSQL advisory
  /// lock); a no-op on SQLite, whose BEGIN IMMEDIATE already serialises writers.
  virtual void lock_migrations() {}
  virtual void unlock_migrations() noexcept {}
};

/// Opens a SQLite file (created when absent), in WAL mode with foreign keys on.
std::unique_ptr<SqlConnection> open_sqlite(const std::string& path);
/// Connects to PostgreSQL with a libpq URL (postgres://user@host:port/db).
std::unique_ptr<SqlConnection> open_postgres(const std::string& url);

/// Commits on commit(), rolls back when destroyed without it.
class Transaction {
 public:
  explicit Transaction(SqlConnection& c) : c_(c) { c_.begin(); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!done_) c_.rollback();
  }
  void commit() {
    c_.commit();
    done_ = true;
  }

 private:
  SqlConnection& c_;
  bool done_ = false;
};

}  // namespace chorus::server
