#include "sandbox/process_stats.h"

#include <fstream>
#include <string>

namespace kiln::sandbox {

std::optional<int64_t> ResidentKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      if (status >> kb) return kb;
      return std::nullopt;
    }
    status.ignore(4096, '\n');
  }
  return std::nullopt;
}

}  // namespace kiln::sandbox
