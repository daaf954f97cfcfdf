// SHA-256 of a file, read in pieces (an upload spooled to disk is never read whole).
#pragma once

#include <string>

#include "common/status.h"

namespace kiln {

// Lower-case hex SHA-256 of the file's bytes.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace kiln
