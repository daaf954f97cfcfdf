#include "common/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kiln {
namespace {

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(JsonText, EscapesWhatJsonRequires) {
  EXPECT_EQ(Quote(""), "\"\"");
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote("l1\nl2\t\r"), "\"l1\\nl2\\t\\r\"");
  EXPECT_EQ(Quote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
}

TEST(JsonText, RoundTripsThroughAJsonParser) {
  std::string text = "{\"features\": [[5.1, 3.5]]}\n\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  for (int c = 0; c < 0x20; ++c) text.push_back(static_cast<char>(c));
  EXPECT_EQ(nlohmann::json::parse(Quote(text)).get<std::string>(), text);
}

}  // namespace
}  // namespace kiln
