// DESIGN: kiln.yaml parsing (cli/deploy_config.h) on any text. Checked: it answers a
// config or an error, never throws; a parsed config's durations are not negative
// (the ranges of the rest are the daemon's to check).
#include <cstdlib>
#include <string>

#include "cli/deploy_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = kiln::cli::ParseDeployYaml(std::string(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) {
    if (config.status().message().empty()) std::abort();
    return 0;
  }
  if (config->timeout_ms && *config->timeout_ms < 0) std::abort();
  if (config->async_timeout_ms && *config->async_timeout_ms < 0) std::abort();
  return 0;
}
