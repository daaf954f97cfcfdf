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

}  // namespace kiln::cli
