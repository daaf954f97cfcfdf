// DESIGN: which of a layer's top-level modules a zygote may import ahead (issue #7),
// decided when the layer is built or pushed and kept in its manifest. Each module is
// imported alone in a fresh interpreter of the runtime, with the environment every
// interpreter of Kiln's gets (runtime/runtime_env.h) and the layer first on sys.path:
// it is preloadable when that succeeds and leaves one thread, no child process and no
// socket (a fork copies one thread and would share a connection). The others are
// listed with the reason; the import time of each is kept. Runs on the builder's
// thread; a module that hangs is killed after 60 s.
#pragma once

#include <string>

#include "model/records.h"

namespace kiln::layers {

// Fills layer.preload and layer.not_preloaded from layer.modules; `staging` is the
// layer's tree (python/, lib/, bin/).
void DescribePreload(const std::string& python, const std::string& staging, LayerVersion& layer);

}  // namespace kiln::layers
