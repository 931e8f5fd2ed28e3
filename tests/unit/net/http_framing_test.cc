#include "http_framing.h"

#include <gtest/gtest.h>

namespace stallscope::net {
namespace {

int Status(absl::string_view method, const HeaderList& headers, size_t limit = 0, size_t* body = nullptr) {
  size_t ignored = 0;
  auto refusal = CheckRequestFraming(method, headers, limit, body ? body : &ignored);
  return refusal ? refusal->status : 0;
}

TEST(HttpFraming, NoBodyIsAcceptedEverywhere) {
  EXPECT_EQ(Status("GET", {{"Host", "x"}}), 0);
  EXPECT_EQ(Status("GET", {{"Content-Length", "0"}}), 0);
  EXPECT_EQ(Status("POST", {{"content-length", " 0 "}}), 0);
}

TEST(HttpFraming, BodiesRefusedFromTheHeaders) {
  EXPECT_EQ(Status("POST", {{"Transfer-Encoding", "chunked"}}), 411);
  EXPECT_EQ(Status("GET", {{"transfer-encoding", "gzip, chunked"}}), 411);
  EXPECT_EQ(Status("POST", {}), 411);  // cpp-httplib would read it to the end of the connection
  EXPECT_EQ(Status("DELETE", {{"Host", "x"}}), 411);
  EXPECT_EQ(Status("GET", {{"Content-Length", "100"}}), 413);
  EXPECT_EQ(Status("POST", {{"Content-Length", "314572800"}}), 413);
}

TEST(HttpFraming, LengthsMustBeOnePlainNumber) {
  for (const char* bad : {"-1", "+5", "1e3", "0x10", "", "1, 2", "99999999999999999999999"})
    EXPECT_EQ(Status("POST", {{"Content-Length", bad}}, 1000), 400) << bad;
  EXPECT_EQ(Status("POST", {{"Content-Length", "10"}, {"Content-Length", "12"}}, 1000), 400);
  EXPECT_EQ(Status("POST", {{"Content-Length", "10"}, {"Content-Length", "10"}}, 1000), 0);
}

TEST(HttpFraming, WithinALimitTheLengthIsTheBodyAndNeverCompressed) {
  size_t body = 0;
  EXPECT_EQ(Status("POST", {{"Content-Length", "100"}}, 100, &body), 0);
  EXPECT_EQ(body, 100u);
  EXPECT_EQ(Status("POST", {{"Content-Length", "101"}}, 100), 413);
  EXPECT_EQ(Status("POST", {{"Content-Length", "100"}, {"Content-Encoding", "gzip"}}, 100), 415);
  EXPECT_EQ(Status("POST", {{"Content-Length", "100"}, {"Content-Encoding", "identity"}}, 100), 0);
}

}  // namespace
}  // namespace stallscope::net
