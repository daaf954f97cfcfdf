// DESIGN: the embedded CPython of a worker. Create() initialises the interpreter
// (isolated: no site-packages, no PYTHON* variables, unbuffered stdio so a crash
// loses no log line) and loads the runtime module (bootstrap.py, compiled into the
// binary). It starts no thread, so a later zygote can fork() after Create().
// Init() and Invoke() call into that module with the GIL held; callers release it
// around their own blocking I/O with ReleaseGil.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "common/status.h"

namespace kiln::runtime {

class PythonHost {
 public:
  static Result<std::unique_ptr<PythonHost>> Create();
  ~PythonHost();

  // config: the INIT header. Returns the INIT_DONE header.
  Result<std::string> Init(const std::string& config_json);
  // Returns the RESULT header and body.
  Result<std::pair<std::string, std::string>> Invoke(const std::string& header_json,
                                                     const std::string& event);
  // A zygote's imports (the PRELOAD header); returns the PRELOAD_DONE header.
  Result<std::string> Preload(const std::string& config_json);
  // Whether this initialised container may become a template; the SNAPSHOT_DONE header.
  Result<std::string> CheckSnapshot();
  // In a template's child: fresh seeds, the after_restore hooks; the HELLO header.
  Result<std::string> Restore();

  // CPython's own bookkeeping around a fork (import lock, thread states, at-fork hooks).
  static void BeforeFork();
  static void AfterForkInParent();
  static void AfterForkInChild();

  // Scoped release of the GIL around blocking calls.
  class ReleaseGil {
   public:
    ReleaseGil();
    ~ReleaseGil();
    ReleaseGil(const ReleaseGil&) = delete;
    ReleaseGil& operator=(const ReleaseGil&) = delete;

   private:
    void* state_;
  };

 private:
  PythonHost() = default;
  void* module_ = nullptr;  // PyObject*, owned
};

}  // namespace kiln::runtime
