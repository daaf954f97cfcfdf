#include "gateway/http_framing.h"

#include <gtest/gtest.h>

namespace kiln::gateway {
namespace {

RequestHeader Post(unsigned version = 11) {
  RequestHeader h;
  h.method(http::verb::post);
  h.target("/echo");
  h.version(version);
  h.insert(http::field::host, "localhost:8080");
  return h;
}

unsigned CodeOf(const RequestHeader& h) {
  Refusal r = CheckFraming(h);
  return r ? r->status : 0;
}

unsigned SizeOf(std::string_view raw, const HttpLimits& limits) {
  Refusal r = CheckHeaderSize(raw, limits);
  return r ? r->status : 0;
}

RequestHeader WithTe(std::initializer_list<const char*> lines) {
  RequestHeader h = Post();
  for (const char* v : lines) h.insert(http::field::transfer_encoding, v);
  return h;
}

TEST(CheckFraming, PlainRequestsPass) {
  EXPECT_FALSE(CheckFraming(Post()));
  RequestHeader h = Post();
  h.insert(http::field::content_length, "12");
  EXPECT_FALSE(CheckFraming(h));
  EXPECT_FALSE(CheckFraming(WithTe({"chunked"})));
  EXPECT_FALSE(CheckFraming(WithTe({"Chunked"})));
  RequestHeader old = Post(10);
  old.erase(http::field::host);
  EXPECT_FALSE(CheckFraming(old));
}

TEST(CheckFraming, UnknownSingleCodingIs501) {
  for (const char* te : {"xchunked", "identity", "gzip", "chunked;q=1"}) {
    EXPECT_EQ(CodeOf(WithTe({te})), 501u) << te;
  }
  EXPECT_EQ(CodeOf(WithTe({"gzip, chunked"})), 501u);
  EXPECT_EQ(CodeOf(WithTe({"gzip", "chunked"})), 501u);
}

TEST(CheckFraming, ListNotEndingInChunkedIs400) {
  EXPECT_EQ(CodeOf(WithTe({"chunked, identity"})), 400u);
  EXPECT_EQ(CodeOf(WithTe({"chunked", "identity"})), 400u);
  EXPECT_EQ(CodeOf(WithTe({"chunked, chunked"})), 400u);
  EXPECT_EQ(CodeOf(WithTe({"gzip, identity"})), 400u);
  EXPECT_EQ(CodeOf(WithTe({""})), 400u);
  EXPECT_EQ(CodeOf(WithTe({"chunked,"})), 400u);
}

TEST(CheckFraming, TeInHttp10Is400) {
  RequestHeader h = Post(10);
  h.insert(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(CodeOf(h), 400u);
}

TEST(CheckFraming, TeWithContentLengthIs400) {
  RequestHeader h = WithTe({"chunked"});
  h.insert(http::field::content_length, "5");
  EXPECT_EQ(CodeOf(h), 400u);
}

TEST(CheckFraming, ContentLengthMustBeOnePlainNumber) {
  for (const char* cl : {"+5", "-1", "0x10", "5 5", "5,5", "", "99999999999999999999", " 5a"}) {
    RequestHeader h = Post();
    h.insert(http::field::content_length, cl);
    EXPECT_EQ(CodeOf(h), 400u) << cl;
  }
  RequestHeader twice = Post();
  twice.insert(http::field::content_length, "5");
  twice.insert(http::field::content_length, "5");
  EXPECT_EQ(CodeOf(twice), 400u);
}

TEST(CheckFraming, HostMissingRepeatedOrMalformedIs400) {
  RequestHeader none = Post();
  none.erase(http::field::host);
  EXPECT_EQ(CodeOf(none), 400u);
  RequestHeader twice = Post();
  twice.insert(http::field::host, "other");
  EXPECT_EQ(CodeOf(twice), 400u);
  for (const char* host : {"", "a b", "a/b", "a@b"}) {
    RequestHeader h = Post();
    h.set(http::field::host, host);
    EXPECT_EQ(CodeOf(h), 400u) << host;
  }
  RequestHeader v6 = Post();
  v6.set(http::field::host, "[::1]:8080");
  EXPECT_FALSE(CheckFraming(v6));
}

TEST(CheckFraming, VersionAndTargetForms) {
  EXPECT_EQ(CodeOf(Post(20)), 505u);
  EXPECT_FALSE(CheckFraming(Post(12)));
  RequestHeader absolute = Post();
  absolute.target("http://localhost/echo");
  EXPECT_EQ(CodeOf(absolute), 400u);
  RequestHeader star = Post();
  star.method(http::verb::options);
  star.target("*");
  EXPECT_FALSE(CheckFraming(star));
}

TEST(CheckHeaderBytes, ObsFoldIsRefused) {
  EXPECT_FALSE(CheckHeaderBytes("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n"));
  EXPECT_TRUE(CheckHeaderBytes("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"));
  EXPECT_TRUE(CheckHeaderBytes("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\tc\r\n\r\n"));
  EXPECT_TRUE(CheckHeaderBytes("GET / HTTP/1.1\r\n Host: x\r\n\r\n"));
}

TEST(CheckHeaderSize, RequestLineFieldsAndCount) {
  HttpLimits limits;
  limits.max_request_line = 64;
  limits.max_header_bytes = 64;
  limits.max_header_count = 3;
  EXPECT_EQ(SizeOf("GET / HTTP/1.1\r\nHost: x\r\n\r\n", limits), 0u);
  std::string long_line = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(SizeOf(long_line, limits), 414u);
  EXPECT_EQ(SizeOf(long_line.substr(0, 80), limits), 414u);  // still arriving
  std::string big = "GET / HTTP/1.1\r\nHost: x\r\nA: " + std::string(80, 'a') + "\r\n\r\n";
  EXPECT_EQ(SizeOf(big, limits), 431u);
  EXPECT_EQ(SizeOf("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits), 0u);
  EXPECT_EQ(SizeOf("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits), 431u);
}

}  // namespace
}  // namespace kiln::gateway
