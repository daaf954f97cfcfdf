#include "dispatch/http_result.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace kiln::dispatch {
namespace {

using nlohmann::json;

std::string Refusal(const json& h) {
  Result<HttpResult> r = ParseHttpResult(h);
  EXPECT_FALSE(r.ok()) << h.dump();
  return r.ok() ? "" : r.status().message();
}

TEST(HttpResult, AcceptsAPlainAnswer) {
  auto r = ParseHttpResult(json{{"statusCode", 201},
                                {"headers", {{"Content-Type", "text/plain"}, {"X-Ok", "a b\tc"}}},
                                {"cookies", {"a=1; Path=/"}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->headers.at("X-Ok"), "a b\tc");
  EXPECT_EQ(r->cookies, std::vector<std::string>{"a=1; Path=/"});
}

TEST(HttpResult, StatusMustBeAnIntegerFrom100To599) {
  for (const json& bad : {json(0), json(99999), json(-1), json(99), json(600), json("200"), json(200.5),
                          json(true), json(nullptr)}) {
    EXPECT_NE(Refusal(json{{"statusCode", bad}}).find("statusCode"), std::string::npos) << bad.dump();
  }
  for (int ok : {100, 200, 599}) EXPECT_TRUE(ParseHttpResult(json{{"statusCode", ok}}).ok());
}

TEST(HttpResult, HeaderValuesCarryNoCrLfOrNul) {
  for (const char* bad : {"a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\0b"}) {
    std::string value(bad, bad[1] == '\0' ? 3 : std::strlen(bad));
    std::string why = Refusal(json{{"statusCode", 200}, {"headers", {{"X-A", value}}}});
    EXPECT_NE(why.find("header X-A"), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << "the reason shows the bytes escaped: " << why;
  }
}

// DEL and the other control bytes but tab are no field-value either (RFC 9110): a
// client refuses the response (DEL in a Location was found by fuzzing). UTF-8 is obs-text.
TEST(HttpResult, HeaderValuesCarryNoOtherControlBytes) {
  for (const char* bad : {"/ther\x7f" "e", "a\x01b", "a\x1b[0m", "\x7f"}) {
    std::string why = Refusal(json{{"statusCode", 302}, {"headers", {{"Location", bad}}}});
    EXPECT_NE(why.find("control byte"), std::string::npos) << why;
  }
  EXPECT_TRUE(ParseHttpResult(json{{"headers", {{"X-A", "caf\xC3\xA9\tok"}}}}).ok());
}

TEST(HttpResult, HeaderNamesAreTokens) {
  for (const char* bad : {"X-A\r\nSet-Cookie", "X A", "X:A", "", "X\"A", "Ä"}) {
    EXPECT_NE(Refusal(json{{"statusCode", 200}, {"headers", {{bad, "v"}}}}).find("RFC 9110 token"),
              std::string::npos)
        << bad;
  }
  EXPECT_TRUE(IsHeaderToken("X-Custom_1.a!#$%&'*+^`|~"));
}

TEST(HttpResult, CookiesCarryNoCrLf) {
  EXPECT_NE(Refusal(json{{"statusCode", 200}, {"cookies", {"a=1\r\nX-Evil: 1"}}}).find("cookie"),
            std::string::npos);
  EXPECT_NE(Refusal(json{{"statusCode", 200}, {"cookies", {1}}}).find("cookie"), std::string::npos);
}

TEST(HttpResult, FramingHeadersAreTheDaemons) {
  auto r = ParseHttpResult(json{{"statusCode", 200},
                                {"headers", {{"Content-Length", "1"}, {"transfer-encoding", "chunked"},
                                             {"Connection", "close"}, {"X-Kept", "1"}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers.count("X-Kept"), 1u);
}

}  // namespace
}  // namespace kiln::dispatch
