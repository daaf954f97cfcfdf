#include "runs/run_recorder.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>

#include <mutex>

namespace kiln::runs {
namespace {

// A store double that only records what the recorder writes.
class FakeStore final : public Store {
 public:
  Result<FunctionVersion> CreateVersion(FunctionVersion) override { return Internal("unused"); }
  Result<std::vector<FunctionVersion>> ListVersions(const std::string&) override { return Internal("unused"); }
  Result<std::vector<FunctionVersion>> ListLatestVersions() override { return Internal("unused"); }
  Result<Route> CreateRoute(Route) override { return Internal("unused"); }
  Result<std::vector<Route>> ListRoutes() override { return Internal("unused"); }
  Status DeleteRoute(int64_t) override { return Internal("unused"); }
  Status UpdateRoute(int64_t, const std::string&, std::optional<int64_t>) override { return Internal("unused"); }
  Result<std::map<std::string, int64_t>> ListServing() override { return Internal("unused"); }
  Status PublishVersion(const std::string&, int64_t) override { return Internal("unused"); }
  Status SetServing(const std::string&, int64_t) override { return Internal("unused"); }
  Status DeleteFunction(const std::string&) override { return Internal("unused"); }
  Status DeleteVersion(const std::string&, int64_t) override { return Internal("unused"); }
  Result<std::vector<std::string>> FindRunIds(const std::string&, int) override { return Internal("unused"); }
  Result<std::map<std::string, int64_t>> CountPipelineRunsByStatus() override { return Internal("unused"); }
  Status VisitRunSamples(const std::string&, int64_t, const std::function<void(const RunSample&)>&) override {
    return Internal("unused");
  }
  Result<std::optional<int64_t>> LastRunStarted(const std::string&) override { return Internal("unused"); }
  Status CreateKey(const ApiKeyRecord&) override { return Internal("unused"); }
  Result<std::vector<ApiKeyRecord>> ListKeys() override { return Internal("unused"); }
  Status DeleteKey(const std::string&) override { return Internal("unused"); }
  Status RotateKey(const std::string&, const std::string&, const std::string&, int64_t) override {
    return Internal("unused");
  }
  Status RecordKeyUse(const std::vector<std::pair<std::string, int64_t>>&) override { return Internal("unused"); }
  Result<LayerVersion> CreateLayerVersion(LayerVersion) override { return Internal("unused"); }
  Result<std::vector<LayerVersion>> ListLayerVersions(const std::string&) override { return Internal("unused"); }
  Status DeleteLayerVersion(const std::string&, int64_t) override { return Internal("unused"); }
  Status SetVersionState(const std::string&, int64_t, VersionState, const std::string&) override {
    return Internal("unused");
  }
  Result<int64_t> FailInterruptedDeploys(const std::string&) override { return Internal("unused"); }
  Result<int64_t> CloseInterruptedRuns(const std::string&) override { return Internal("unused"); }
  Result<int64_t> CloseInterruptedContainers(const std::string&) override { return Internal("unused"); }
  Result<std::vector<ContainerRecord>> ListEndedContainers(int) override { return Internal("unused"); }
  Result<std::vector<RunRecord>> ListRuns(const RunFilter&) override { return Internal("unused"); }
  Result<RunRecord> GetRun(const std::string&) override { return Internal("unused"); }
  Result<Enqueued> EnqueueRun(const RunRecord&, const std::string&, const std::string&, int64_t, int64_t) override {
    return Internal("unused");
  }
  Result<std::vector<QueuedRun>> LeaseRuns(const std::string&, int64_t, int64_t, int) override {
    return Internal("unused");
  }
  Status RenewLeases(const std::string&, const std::vector<std::string>&, int64_t) override { return Internal("unused"); }
  Status StartAttempt(const std::string&, int) override { return Internal("unused"); }
  Status RequeueRun(const std::string&, int64_t) override { return Internal("unused"); }
  Status MakeReady(const std::vector<std::string>&, int64_t) override { return Internal("unused"); }
  Status DeleteQueuedRun(const std::string&) override { return Internal("unused"); }
  Result<int64_t> ReleaseLeases() override { return Internal("unused"); }
  Result<std::pair<int64_t, std::optional<int64_t>>> QueueDepth() override { return Internal("unused"); }
  Result<bool> PutPipeline(const Pipeline&) override { return Internal("unused"); }
  Result<Pipeline> GetPipeline(const std::string&) override { return Internal("unused"); }
  Result<std::vector<Pipeline>> ListPipelines() override { return Internal("unused"); }
  Status DeletePipeline(const std::string&) override { return Internal("unused"); }
  Result<Enqueued> CreatePipelineRun(const PipelineRun&, const std::vector<StepRun>&, const std::string&,
                                     int64_t) override {
    return Internal("unused");
  }
  Result<bool> AdvancePipelineRun(const std::string&, int64_t, const std::vector<StepRun>&) override {
    return Internal("unused");
  }
  Result<bool> EndPipelineRun(const PipelineRun&) override { return Internal("unused"); }
  Result<PipelineRun> GetPipelineRun(const std::string&) override { return Internal("unused"); }
  Result<std::vector<PipelineRun>> ListPipelineRuns(const std::string&, bool, int) override {
    return Internal("unused");
  }
  Result<std::vector<PipelineTask>> ListPipelineTasks(const std::string&, std::optional<int64_t>) override {
    return Internal("unused");
  }
  Result<int64_t> CountPendingTasks(const std::string&, int64_t) override { return Internal("unused"); }
  Result<int64_t> PurgeOldRecords(int64_t, int64_t, int) override { return Internal("unused"); }

  Status UpsertRecords(const std::vector<RunRecord>& runs,
                       const std::vector<ContainerRecord>& containers) override {
    std::unique_lock lock(mu);
    open.wait(lock, [&] { return !gated; });
    batches.push_back(runs);
    container_batches.push_back(containers);
    return OkStatus();
  }

  // While gated, a write waits (the writer thread with it) until Open().
  void Open() {
    {
      std::lock_guard lock(mu);
      gated = false;
    }
    open.notify_all();
  }

  std::mutex mu;
  std::condition_variable open;
  bool gated = false;
  std::vector<std::vector<RunRecord>> batches;
  std::vector<std::vector<ContainerRecord>> container_batches;
};

// Flush, awaited on an event loop of its own: returns once it has resumed.
void FlushOn(RunRecorder& recorder) {
  boost::asio::io_context io;
  bool resumed = false;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> {
        co_await recorder.Flush();
        resumed = true;
      },
      boost::asio::detached);
  io.run();
  ASSERT_TRUE(resumed);
}

RunRecord MakeRun(const std::string& id, RunStatus status) {
  RunRecord r;
  r.id = id;
  r.status = status;
  return r;
}

TEST(CoalesceById, KeepsTheLastRecordInFirstAppearanceOrder) {
  auto out = CoalesceById(std::deque<RunRecord>{MakeRun("a", RunStatus::kRunning), MakeRun("b", RunStatus::kRunning),
                           MakeRun("a", RunStatus::kOk)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, "a");
  EXPECT_EQ(out[0].status, RunStatus::kOk);
  EXPECT_EQ(out[1].id, "b");
}

TEST(RunRecorder, FlushMakesEverythingEmittedDurable) {
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  RunRecorder recorder(std::move(store));
  recorder.Emit(MakeRun("a", RunStatus::kRunning));
  recorder.Emit(MakeRun("a", RunStatus::kOk));
  recorder.Emit(MakeRun("b", RunStatus::kError));
  FlushOn(recorder);
  std::lock_guard lock(fake->mu);
  size_t written = 0;
  for (const auto& b : fake->batches) written += b.size();
  EXPECT_EQ(written, 2u) << "a's running record folds into its final one";
  EXPECT_EQ(fake->batches.back().back().id, "b");
}

TEST(RunRecorder, ContainersFoldLikeRuns) {
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  RunRecorder recorder(std::move(store));
  ContainerRecord c{.id = "c-1", .function = "f", .version = 1};
  recorder.EmitContainer(c);
  c.ended_at = 5;
  c.reason = "idle";
  recorder.EmitContainer(c);
  FlushOn(recorder);
  std::lock_guard lock(fake->mu);
  std::vector<ContainerRecord> written;
  for (const auto& b : fake->container_batches) written.insert(written.end(), b.begin(), b.end());
  ASSERT_FALSE(written.empty());
  EXPECT_EQ(written.back().reason, "idle");
  EXPECT_EQ(written.back().ended_at, 5);
}

TEST(RunRecorder, DestructionWritesWhatIsQueued) {
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  {
    RunRecorder recorder(std::move(store));
    recorder.Emit(MakeRun("x", RunStatus::kOk));
    // `fake` is owned by the recorder: read it before the recorder goes.
    FlushOn(recorder);
    std::lock_guard lock(fake->mu);
    EXPECT_EQ(fake->batches.size(), 1u);
  }
}

// The thread that awaits a Flush goes on serving: here, the handler that lets the
// store's write finish runs on the same one-thread event loop the Flush waits on.
TEST(RunRecorder, AFlushDoesNotHoldItsThread) {
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  fake->gated = true;
  RunRecorder recorder(std::move(store));
  recorder.Emit(MakeRun("x", RunStatus::kOk));
  boost::asio::io_context io;
  std::vector<std::string> order;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> {
        co_await recorder.Flush();
        order.push_back("flushed");
      },
      boost::asio::detached);
  boost::asio::post(io, [&] {
    order.push_back("served meanwhile");
    fake->Open();
  });
  io.run();
  EXPECT_EQ(order, (std::vector<std::string>{"served meanwhile", "flushed"}));
  std::lock_guard lock(fake->mu);
  EXPECT_EQ(fake->batches.size(), 1u);
}

TEST(RunRecorder, AFlushWithNothingPendingResumesAtOnce) {
  RunRecorder recorder(std::make_unique<FakeStore>());
  FlushOn(recorder);
}

}  // namespace
}  // namespace kiln::runs
