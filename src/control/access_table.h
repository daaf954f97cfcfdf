// DESIGN: who may call what on the control API, in one table (SPEC §1): each
// operation (method + path pattern, `*` standing for one segment) names the least
// role that may call it. ControlApi::Admit consults it and nothing else does. An
// operation without a row needs admin (default deny), so an endpoint added without
// a thought for roles is closed to deployer and reader keys, never open. The rows
// match the x-kiln-role of each operation in openapi.json (a unit test holds them
// together). Pure data and a pure lookup: any thread.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "model/records.h"

namespace kiln::control {

// The segments of a request target's path: "/v1/keys/x?y" -> {"v1", "keys", "x"}.
std::vector<std::string> PathSegments(std::string_view target);

// The least role for the operation on the path's segments (as the control API splits
// them: "/v1/keys/x" -> {"v1", "keys", "x"}); ControlRole::kNone: it needs no key.
ControlRole LeastRole(boost::beast::http::verb method, const std::vector<std::string>& segments);

}  // namespace kiln::control
