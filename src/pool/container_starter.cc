// Starting a container for a version whose place the caller claimed (Pool::
// StartContainer). The steps, in order, each its own function:
//   1. MakeProcess: the version's snapshot template, else its layers' zygote, else a
//      fresh interpreter; a source that is not there or fails says why in the run's
//      start_note, and the next one is tried.
//   2. RunInit: the init phase (INIT, or a restored child's HELLO) under its own
//      budget, not the request's deadline (Lambda does the same), so a slow model load
//      still warms the container; its end mapped to a refusal. A failed import is
//      remembered for the version (versions are immutable).
//   3. CheckForkSafety: once per snapshot version, at its first init, so the deploy's
//      answer says why a snapshot will not be taken.
// Every refusal gives the claimed place back (Release).
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "pool/pool.h"
#include "pool/slot.h"

namespace kiln::pool {
namespace {

void AddNote(std::string& notes, const std::string& note) {
  if (!note.empty()) notes += (notes.empty() ? "" : "; ") + note;
}

}  // namespace

Result<const ContainerSpec*> Pool::SpecOf(Slot& s) {
  if (!s.spec) {
    KILN_ASSIGN_OR_RETURN(ContainerSpec spec, container_spec_(s.fv));
    std::vector<std::string> env = config_.worker_env;
    for (const std::string& kv : spec.env) {
      const std::string key = kv.substr(0, kv.find('=') + 1);
      std::erase_if(env, [&](const std::string& e) { return e.starts_with(key); });
      env.push_back(kv);
    }
    spec.zygote.env = std::move(env);
    s.spec = std::move(spec);
  }
  return &*s.spec;
}

asio::awaitable<Result<std::shared_ptr<Container>>> Pool::ForkFromTemplate(Slot& s,
                                                                          const sandbox::SpawnSpec& spec) {
  std::shared_ptr<Container> source = s.snapshot.container();
  if (!source->Alive()) {
    std::string how = source->exit_how().value_or("ended");
    RetireTemplate(s, LeaveReason::kCrashed);
    co_return Internal("it died (" + how + "); the next container to serve a request becomes the template");
  }
  std::shared_ptr<SpareChild> spares = s.snapshot.spare();
  auto forked = co_await spares->Fork(source, spec);
  if (!forked.ok()) {
    if (!source->Alive() && s.snapshot.container() == source) RetireTemplate(s, LeaveReason::kCrashed);
    co_return forked.status();
  }
  s.snapshot.CountFork();
  std::string id = forked->id;
  auto c = Container::Adopt(ex_, std::move(forked).value(), std::move(id), spec.memory_mb);
  if (c.ok()) (*c)->start = "snapshot";
  co_return c;
}
asio::awaitable<Result<std::shared_ptr<Container>>> Pool::MakeProcess(Slot& s, const ContainerSpec& cs,
                                                                      const sandbox::SpawnSpec& spec,
                                                                      std::string& note) {
  const FunctionVersion& fv = s.fv;
  std::shared_ptr<Container> c;
  if (fv.start.snapshot && s.snapshot.state() == SnapshotTemplate::State::kReady) {
    auto forked = co_await ForkFromTemplate(s, spec);
    if (forked.ok()) {
      c = std::move(forked).value();
    } else {
      AddNote(note, "the snapshot template could not fork: " + forked.status().message());
    }
  } else if (fv.start.snapshot && s.snapshot.state() == SnapshotTemplate::State::kRefused) {
    AddNote(note, "snapshot refused: " + s.snapshot.refusal());
  }
  if (!c && fv.start.zygote) {
    auto forked = co_await zygotes_.Fork(cs.zygote, spec, budget_.free_mb());
    if (forked.ok()) {
      std::string id = forked->id;  // a spare child was named when it was forked
      auto adopted = Container::Adopt(ex_, std::move(forked).value(), std::move(id), spec.memory_mb);
      if (adopted.ok()) {
        c = std::move(adopted).value();
        c->start = "zygote";
      } else {
        AddNote(note, adopted.status().message() + "; started a fresh interpreter");
      }
    } else {
      AddNote(note, forked.status().message() + "; started a fresh interpreter");
    }
  }
  if (stopping_) {  // the daemon began to stop while this start waited for a fork
    if (c) c->Retire(LeaveReason::kShutdown);
    co_return Internal("the daemon is stopping");
  }
  if (c) co_return c;
  auto started = co_await Container::Spawn(ex_, config_.blocking, spec, config_.sandbox);
  if (!started.ok()) co_return started.status();
  c = std::move(started).value();
  c->start = "plain";
  co_return c;
}

asio::awaitable<std::optional<Refusal>> Pool::RunInit(Slot& s, const ContainerSpec& cs, Container& c,
                                                      std::string& logs) {
  const bool restored = c.start == "snapshot";
  Exchange done;  // (no co_await inside ?: — GCC 12 destroys its temporaries twice)
  if (restored) {
    done = co_await c.AwaitRestore(config_.init_timeout);
  } else {
    done = co_await c.Initialize(cs.init_header, config_.init_timeout);
  }
  logs = c.TakeLogs();
  switch (done.end) {
    case Exchange::End::kFrame:
      break;
    case Exchange::End::kTimeout:
      co_return Refusal{RunStatus::kTimeout, 504, "Runtime.InitTimeout",
                        "the container's init phase ran past " + std::to_string(config_.init_timeout.count()) + " ms",
                        logs, {}, true};
    case Exchange::End::kOom:
      co_return Refusal{RunStatus::kOom, 502, "Runtime.OutOfMemory", OomMessage(c), logs, {}, true};
    case Exchange::End::kCrashed:
      co_return Refusal{RunStatus::kCrashed, 502, "Runtime.InitCrashed",
                        "the container's init phase ended: " + done.how, logs, {}, true};
  }
  auto result = nlohmann::json::parse(done.frame.header, nullptr, false);
  if (result.is_discarded() || !result.value("ok", false)) {
    c.Retire(LeaveReason::kInitFailed);
    Refusal failure{RunStatus::kError, 502,
                    result.is_discarded() ? "Runtime.InitError" : result.value("errorType", "Runtime.InitError"),
                    result.is_discarded() ? "malformed INIT_DONE" : result.value("errorMessage", ""),
                    "", {}, true};
    // An import that failed fails again (versions are immutable); an after_restore
    // hook may have met a passing condition, so only this start fails.
    if (!restored) {  // later requests: the same error, no re-import
      s.init_failure = failure;
      s.init_failure_logs = logs;
    }
    failure.logs = logs;
    co_return failure;
  }
  c.init_ms = result.value(restored ? "restore_ms" : "init_ms", 0.0);
  co_return std::nullopt;
}

asio::awaitable<std::optional<Refusal>> Pool::CheckForkSafety(Slot& s, Container& c, std::string& note) {
  // Checked once, at the first init; the template itself is taken after a container's
  // first request (MakeTemplate).
  s.snapshot.fork_safety_checked = true;
  Exchange verdict = co_await c.Ask(protocol::Encode(protocol::FrameType::kSnapshot, R"({"check_only":true})", ""),
                                    config_.init_timeout);
  if (verdict.end != Exchange::End::kFrame) {
    co_return Refusal{RunStatus::kCrashed, 502, "Runtime.InitCrashed",
                      "the container ended at its fork-safety check: " + verdict.how, c.TakeLogs(), {}, true};
  }
  auto answer = nlohmann::json::parse(verdict.frame.header, nullptr, false);
  if (answer.is_object() && !answer.value("ok", false)) {
    const std::string why = answer.value("error", "");
    // A template being made meanwhile is refused with it; one made already (only if
    // the daemon lost the check's verdict) stays.
    const SnapshotTemplate::State st = s.snapshot.state();
    if (st == SnapshotTemplate::State::kNone || st == SnapshotTemplate::State::kMaking) s.snapshot.Refuse(why);
    spdlog::warn("{}: snapshot refused: {}", KeyOf(s.fv), why);
    AddNote(note, "snapshot refused: " + why);
  }
  co_return std::nullopt;
}

asio::awaitable<std::variant<Acquired, Refusal>> Pool::StartContainer(const std::shared_ptr<Slot>& s,
                                                                     double queue_ms) {
  std::string note;
  // The caller claimed this container's place: every refusal gives it back.
  auto refuse = [&](Refusal r, std::shared_ptr<Container> c) {
    r.queue_ms = queue_ms;
    r.start_note = note;
    if (c) {
      r.start = c->start;
      r.phases = c->start_phases();
    }
    Release(s, std::move(c));
    return r;
  };
  auto setup = SpecOf(*s);
  if (!setup.ok()) {
    co_return refuse({RunStatus::kError, 502, "Runtime.InitError", setup.status().message(), "", {}}, nullptr);
  }
  const ContainerSpec& cs = **setup;
  sandbox::SpawnSpec spec{config_.worker_path, cs.zygote.env,
                          "c-" + std::to_string(next_container_++) + "-" + RandomAlnum(6), s->fv.memory_mb, cs.binds};
  auto made = co_await MakeProcess(*s, cs, spec, note);
  if (!made.ok()) {
    co_return refuse({RunStatus::kCrashed, 502, "Runtime.StartError", made.status().message(), "", {}}, nullptr);
  }
  std::shared_ptr<Container> c = std::move(made).value();
  s->members.push_back(c);
  sink_(RecordOf(*s, *c));

  std::string logs;
  if (auto failed = co_await RunInit(*s, cs, *c, logs)) co_return refuse(std::move(*failed), c);
  if (s->fv.start.snapshot && c->start != "snapshot" && !s->snapshot.fork_safety_checked) {
    if (auto failed = co_await CheckForkSafety(*s, *c, note)) co_return refuse(std::move(*failed), c);
  }
  co_return Acquired{Lease(this, s, c), true, *c->init_ms, logs, queue_ms, c->start_phases(), c->start, note};
}

}  // namespace kiln::pool
