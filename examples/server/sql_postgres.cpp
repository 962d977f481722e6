// SqlConnection over libpq. Text-format parameters and results; a lost connection is reset once.
#include "sql.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <string>

namespace chorus::server {
namespace {

class PgConnection final : public SqlConnection {
 public:
  explicit PgConnection(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      throw StorageError("cannot connect to PostgreSQL: " + msg);
    }
    exec_script("SET client_min_messages TO WARNING");
  }
  ~PgConnection() override { PQfinish(conn_); }

  std::string_view dialect() const noexcept override { return "postgres"; }

  SqlResult exec(std::string_view sql, std::span<const SqlValue> params) override {
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const SqlValue& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) continue;
      if (auto* n = std::get_if<std::int64_t>(&v)) {
        text[i] = std::to_string(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, *d);
        text[i].assign(buf, r.ptr);
      } else {
        text[i] = std::get<std::string>(v);
      }
      values[i] = text[i].c_str();
    }
    std::string q(sql);
    PGresult* res = PQexecParams(conn_, q.c_str(), static_cast<int>(params.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
    if (PQstatus(conn_) == CONNECTION_BAD && !in_tx_) {  // server restarted: reconnect once
      PQclear(res);
      PQreset(conn_);
      res = PQexecParams(conn_, q.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                         nullptr, nullptr, 0);
    }
    return take(res);
  }

  void exec_script(std::string_view sql) override {
    std::string q(sql);
    take(PQexec(conn_, q.c_str()));
  }

  void begin() override {
    exec_script("BEGIN");
    in_tx_ = true;
  }
  void commit() override {
    in_tx_ = false;
    exec_script("COMMIT");
  }
  void rollback() noexcept override {
    in_tx_ = false;
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
  void lock_migrations() override { exec_script("SELECT pg_advisory_lock(726361)"); }
  void unlock_migrations() noexcept override {
    PQclear(PQexec(conn_, "SELECT pg_advisory_unlock(726361)"));
  }

 private:
  SqlResult take(PGresult* res) {
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      bool unique = state && std::strcmp(state, "23505") == 0;
      std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
      PQclear(res);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
        msg.pop_back();
      throw StorageError("PostgreSQL: " + msg, unique);
    }
    SqlResult result;
    const int rows = PQntuples(res), cols = PQnfields(res);
    result.rows.reserve(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      SqlRow row(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(res, r, c)) continue;
        row[static_cast<std::size_t>(c)].emplace(PQgetvalue(res, r, c),
                                                 static_cast<std::size_t>(PQgetlength(res, r, c)));
      }
      result.rows.push_back(std::move(row));
    }
    const char* affected = PQcmdTuples(res);
    if (affected && *affected) result.affected = std::atoll(affected);
    PQclear(res);
    return result;
  }

  PGconn* conn_;
  bool in_tx_ = false;
};

}  // namespace

std::unique_ptr<SqlConnection> open_postgres(const std::string& url) {
  return std::make_unique<PgConnection>(url);
}

}  // namespace chorus::server
