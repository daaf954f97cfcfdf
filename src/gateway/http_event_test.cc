#include "gateway/http_event.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kiln::gateway {
namespace {

using nlohmann::json;

json Build(Request req) {
  EventContext ctx{"POST /predict", "127.0.0.1", "req-1", 1700000000123};
  return json::parse(BuildHttpEvent(req, ctx));
}

TEST(HttpEvent, V2ShapeForAJsonPost) {
  Request req{http::verb::post, "/predict?a=1&b=x%20y&a=2&flag", 11};
  req.set("Content-Type", "application/json");
  req.set("X-Custom", "one");
  req.insert("X-Custom", "two");
  req.set("Cookie", "s=1; t=2");
  req.set("User-Agent", "curl/8");
  req.body() = R"({"features":[[1,2,3,4]]})";
  json e = Build(req);
  EXPECT_EQ(e["version"], "2.0");
  EXPECT_EQ(e["routeKey"], "POST /predict");
  EXPECT_EQ(e["rawPath"], "/predict");
  EXPECT_EQ(e["rawQueryString"], "a=1&b=x%20y&a=2&flag");
  EXPECT_EQ(e["queryStringParameters"]["a"], "1,2");
  EXPECT_EQ(e["queryStringParameters"]["b"], "x y");
  EXPECT_EQ(e["queryStringParameters"]["flag"], "");
  EXPECT_EQ(e["headers"]["x-custom"], "one,two");
  EXPECT_FALSE(e["headers"].contains("cookie"));
  EXPECT_EQ(e["cookies"], json({"s=1", "t=2"}));
  EXPECT_EQ(e["requestContext"]["http"]["method"], "POST");
  EXPECT_EQ(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
  EXPECT_EQ(e["requestContext"]["http"]["userAgent"], "curl/8");
  EXPECT_EQ(e["requestContext"]["timeEpoch"], 1700000000123);
  EXPECT_EQ(e["requestContext"]["requestId"], "req-1");
  EXPECT_EQ(e["body"], R"({"features":[[1,2,3,4]]})");
  EXPECT_EQ(e["isBase64Encoded"], false);
}

// The event is written as text field by field: bytes that are not UTF-8 in a header, a
// decoded query value or the path still make valid JSON, each bad byte as U+FFFD.
TEST(HttpEvent, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  Request req{http::verb::get, "/p\xff?k=%C1%97&q=\"x\"", 11};
  req.set("X-Raw", "a\xfe\"b");
  json e = Build(req);
  EXPECT_EQ(e["rawPath"], "/p\xef\xbf\xbd");
  EXPECT_EQ(e["queryStringParameters"]["k"], "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(e["queryStringParameters"]["q"], "\"x\"");
  EXPECT_EQ(e["headers"]["x-raw"], "a\xef\xbf\xbd\"b");
  EXPECT_TRUE(e["body"].is_null());
  EXPECT_FALSE(e.contains("cookies")) << "no cookies, no field";
}

TEST(HttpEvent, BinaryBodyIsBase64) {
  Request req{http::verb::post, "/x", 11};
  req.set("Content-Type", "application/octet-stream");
  req.body() = std::string("\x00\x01\xff", 3);
  json e = Build(req);
  EXPECT_EQ(e["isBase64Encoded"], true);
  EXPECT_EQ(e["body"], "AAH/");
}

TEST(HttpEvent, InvalidUtf8IsBinaryAndEmptyBodyIsNull) {
  Request bad{http::verb::post, "/x", 11};
  bad.set("Content-Type", "text/plain");
  bad.body() = "\xc3\x28";
  EXPECT_EQ(Build(bad)["isBase64Encoded"], true);
  Request empty{http::verb::get, "/x", 11};
  json e = Build(empty);
  EXPECT_TRUE(e["body"].is_null());
  EXPECT_FALSE(e.contains("queryStringParameters"));
}

// Text is well-formed UTF-8 only (RFC 3629): what a JSON parser takes back as it was.
// The overlong "\xC1\x97" went out as text and made the event unparsable (fuzzing).
TEST(HttpEvent, OnlyWellFormedUtf8IsText) {
  for (const char* text : {"plain", "caf\xC3\xA9", "\xE2\x82\xAC", "\xED\x9F\xBF", "\xF0\x9F\x98\x80",
                           "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsTextBody("", text)) << text;
  }
  for (const char* binary : {"\xC1\x97", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF",
                             "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80", "\xC3", "\xE2\x82"}) {
    EXPECT_FALSE(IsTextBody("", binary)) << binary;
    Request req{boost::beast::http::verb::post, "/p", 11};
    req.body() = binary;
    EXPECT_FALSE(nlohmann::json::parse(BuildHttpEvent(req, {"POST /p", "127.0.0.1", "r", 1}), nullptr, false)
                     .is_discarded());
  }
}

TEST(HttpEvent, RenderStatusCodeResult) {
  dispatch::Invocation inv;
  inv.run.id = "r1";
  inv.run.status = RunStatus::kOk;
  inv.run.http_status = 201;
  inv.http = dispatch::HttpResult{201, {{"X-A", "b"}}, {"a=1", "b=2"}};
  inv.body = "made";
  Response res = RenderInvocation(inv, 11);
  EXPECT_EQ(res.result_int(), 201u);
  EXPECT_EQ(res["X-A"], "b");
  EXPECT_EQ(res["Content-Type"], "application/json");
  EXPECT_EQ(std::distance(res.equal_range(http::field::set_cookie).first,
                          res.equal_range(http::field::set_cookie).second), 2);
  EXPECT_EQ(res["X-Kiln-Run-Id"], "r1");
  EXPECT_EQ(res.body(), "made");
}

TEST(HttpEvent, RenderThrottledCarriesRetryAfter) {
  dispatch::Invocation inv;
  inv.run.status = RunStatus::kThrottled;
  inv.run.http_status = 429;
  Response res = RenderInvocation(inv, 11);
  EXPECT_EQ(res.result_int(), 429u);
  EXPECT_EQ(res["Retry-After"], "1");
}

TEST(HttpEvent, CredentialsStayOutAndTheKeyIsNamedInstead) {
  Request req{http::verb::post, "/predict", 11};
  req.set("Authorization", "Bearer kiln_abcdefgh_secret");
  req.set("X-Api-Key", "kiln_abcdefgh_secret");
  req.set("X-Other", "kept");
  EventContext ctx{"POST /predict", "127.0.0.1", "req-1", 1, Authorizer{"abcdefgh", "ci"}};
  std::string text = BuildHttpEvent(req, ctx);
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  json e = json::parse(text);
  EXPECT_FALSE(e["headers"].contains("authorization"));
  EXPECT_FALSE(e["headers"].contains("x-api-key"));
  EXPECT_EQ(e["headers"]["x-other"], "kept");
  EXPECT_EQ(e["requestContext"]["authorizer"], json({{"kiln", {{"keyId", "abcdefgh"}, {"keyName", "ci"}}}}));
  EXPECT_FALSE(Build(req)["requestContext"].contains("authorizer"));  // an auth: none route
}

TEST(HttpEvent, RenderSendsNoBodyWhereHttpAllowsNone) {
  for (int code : {204, 304, 103}) {
    dispatch::Invocation inv;
    inv.run.status = RunStatus::kOk;
    inv.run.http_status = code;
    inv.http = dispatch::HttpResult{code, {}, {}};
    inv.body = "a body the handler should not have sent";
    Response res = RenderInvocation(inv, 11);  // Beast throws on a body here
    EXPECT_EQ(res.result_int(), static_cast<unsigned>(code));
    EXPECT_TRUE(res.body().empty());
  }
}

}  // namespace
}  // namespace kiln::gateway
