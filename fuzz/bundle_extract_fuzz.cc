// DESIGN: the bundle extractor (registry/bundle_extractor.h) on any upload: the bytes
// as a tar, tar.gz or zip archive, unpacked into a fresh folder inside a scratch
// folder that is emptied after each input. Checked: nothing appears in the scratch
// folder beside the bundle, a refused bundle leaves no folder, and every symlink an
// accepted bundle holds resolves inside it.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "registry/bundle_extractor.h"

namespace {

namespace fs = std::filesystem;

const fs::path& Scratch() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "kiln-fuzz-bundle-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return fs::path(tmpl);
  }();
  return dir;
}

// Does `p`, with every link resolved, stay under `root`?
bool ResolvesInside(const fs::path& p, const fs::path& root) {
  std::error_code ec;
  fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return true;  // a loop or a dangling chain opens nothing
  auto rel = real.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path& scratch = Scratch();
  const fs::path bundle = scratch / "bundle";
  kiln::ExtractLimits limits{.max_bytes = 1 << 20, .max_files = 64};
  auto r = kiln::ExtractBundle(std::string_view(reinterpret_cast<const char*>(data), size),
                               bundle.string(), limits);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(scratch)) {
    if (e.path() != bundle) std::abort();  // written beside the bundle
  }
  if (!r.ok() && fs::exists(bundle)) std::abort();  // a refusal leaves nothing
  if (r.ok()) {
    const fs::path root = fs::canonical(bundle);
    for (auto it = fs::recursive_directory_iterator(bundle); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_symlink() && !ResolvesInside(it->path(), root)) std::abort();
    }
  }
  fs::remove_all(bundle, ec);
  return 0;
}
