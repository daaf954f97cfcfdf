// Writing a JSON string literal fast, for large payloads (request bodies) that are
// already known to be valid UTF-8. nlohmann::json stays the serializer for
// structure; this only escapes text: '"', '\\' and control characters, passing
// UTF-8 through unchanged, as RFC 8259 section 7 allows.
#pragma once

#include <string>
#include <string_view>

namespace kiln {

// Appends `text` (valid UTF-8) to `out` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view text);

}  // namespace kiln
