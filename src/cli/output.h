// How the CLI prints: aligned tables for people, one JSON document with --json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::cli {

void PrintJson(const nlohmann::json& j);
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// A JSON value as a table cell: strings bare, null as "-".
std::string Cell(const nlohmann::json& v);
// obj[key] as a table cell, "-" when the key is absent (for objects whose fields vary).
std::string Cell(const nlohmann::json& obj, const char* key);
// A number of seconds as people read it: 42s, 3m12s, 2h05m; null as "-".
std::string SecondsCell(const nlohmann::json& seconds);

}  // namespace kiln::cli
