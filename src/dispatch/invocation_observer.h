// DESIGN: who learns of every invocation as the dispatcher runs it: Started when the
// dispatcher takes a request (before the pool), Ended with its final record, once
// per request, whatever the outcome (throttled and rejected ones too, before the
// throttle log folds their records). Metrics are the observer (metrics/faas_metrics.h).
// Called on the dispatcher's thread; an observer must not block.
#pragma once

#include <string>

#include "model/records.h"

namespace kiln::dispatch {

class InvocationObserver {
 public:
  virtual ~InvocationObserver() = default;
  virtual void Started(const FunctionVersion& fv, const std::string& trigger) = 0;
  virtual void Ended(const RunRecord& run) = 0;
};

}  // namespace kiln::dispatch
