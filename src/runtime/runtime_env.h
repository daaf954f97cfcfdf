// The environment every interpreter of Kiln's runtime starts with, whether it serves
// a container, is a zygote, or checks a layer's imports at build time: the checks
// must see what the zygotes will.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace kiln::runtime {

inline std::vector<std::string> InterpreterEnv() {
  std::vector<std::string> env = {
      // One thread per native pool: a container's CPU share is one request, and a
      // zygote must stay single-threaded to fork.
      "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1",
      // onnxruntime starts a telemetry thread at import unless told not to: with no
      // network there is nowhere to send it, and the thread would keep it from a zygote.
      "ORT_DISABLE_TELEMETRY=1"};
  // Machine-specific OpenBLAS settings keep numpy from picking a broken kernel.
  for (const char* name : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}) {
    if (const char* v = std::getenv(name)) env.push_back(std::string(name) + "=" + v);
  }
  return env;
}

}  // namespace kiln::runtime
