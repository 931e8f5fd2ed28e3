// A private PostgreSQL server for tests: initdb into a temp dir, a unix socket only, stopped
// and deleted at the end. Start() says why when the machine cannot run one (tests skip).
#ifndef STALLSCOPE_TESTS_UNIT_COLLECTOR_TEMP_POSTGRES_H_
#define STALLSCOPE_TESTS_UNIT_COLLECTOR_TEMP_POSTGRES_H_

#include <glob.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace stallscope::collector {

class TempPostgres {
 public:
  static absl::StatusOr<std::unique_ptr<TempPostgres>> Start() {
    glob_t g{};
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) != 0 || g.gl_pathc == 0) {
      globfree(&g);
      return absl::UnavailableError("PostgreSQL is not installed (Debian package postgresql)");
    }
    std::string bin = g.gl_pathv[g.gl_pathc - 1];
    globfree(&g);
    bin = bin.substr(0, bin.rfind('/'));
    char tmpl[] = "/tmp/stallscope-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::UnavailableError("mkdtemp failed");
    auto pg = std::unique_ptr<TempPostgres>(new TempPostgres(tmpl));
    // initdb refuses to run as root: run the server as the postgres user then.
    if (geteuid() == 0) {
      struct passwd* pw = getpwnam("postgres");
      if (pw == nullptr) return absl::UnavailableError("running as root and there is no postgres user");
      if (chown(tmpl, pw->pw_uid, pw->pw_gid) != 0) return absl::UnavailableError("chown of the data dir failed");
      pg->as_ = "runuser -u postgres -- ";
    }
    std::string data = pg->dir_ + "/data";
    if (!pg->Run(absl::StrCat(bin, "/initdb -D ", data, " -U postgres -A trust -E UTF8 --no-sync")))
      return absl::UnavailableError(absl::StrCat("initdb failed; see ", pg->dir_, "/log"));
    if (!pg->Run(absl::StrCat(bin, "/pg_ctl -D ", data, " -l ", pg->dir_, "/server.log -w -t 30 -o \"-k ", pg->dir_,
                              " -c listen_addresses= -c fsync=off -p 5432\" start")))
      return absl::UnavailableError(absl::StrCat("pg_ctl start failed; see ", pg->dir_, "/server.log"));
    pg->pg_ctl_ = absl::StrCat(bin, "/pg_ctl -D ", data);
    return pg;
  }

  ~TempPostgres() {
    if (!pg_ctl_.empty()) Run(pg_ctl_ + " -m immediate -w stop");
    std::string rm = "rm -rf " + dir_;
    if (system(rm.c_str()) != 0) {
    }
  }

  std::string url() const { return absl::StrCat("postgresql://postgres@/postgres?host=", dir_, "&port=5432"); }

 private:
  explicit TempPostgres(std::string dir) : dir_(std::move(dir)) {}
  bool Run(const std::string& cmd) {
    std::string full = absl::StrCat(as_, cmd, " >>", dir_, "/log 2>&1");
    return system(full.c_str()) == 0;
  }

  std::string dir_;
  std::string as_;
  std::string pg_ctl_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_TESTS_UNIT_COLLECTOR_TEMP_POSTGRES_H_
