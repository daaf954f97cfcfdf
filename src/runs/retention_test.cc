#include "runs/retention.h"

#include <gtest/gtest.h>

#include "store/temp_db_for_test.h"

namespace kiln::runs {
namespace {

constexpr int64_t kDay = 86400000;
constexpr int64_t kNow = 100 * kDay;

class RetentionTest : public ::testing::Test {
 protected:
  void TearDown() override { store_.reset(); }

  std::unique_ptr<Retention> Make(int batch = 5000) {
    RetentionConfig config;
    config.batch = batch;
    return std::make_unique<Retention>(db_.Open(), db_.Open(), config, [] { return kNow; });
  }
  static RunRecord Run(const std::string& id, int64_t started_at, RunStatus status = RunStatus::kOk) {
    RunRecord r;
    r.id = id;
    r.function = "f";
    r.version = 1;
    r.started_at = started_at;
    r.status = status;
    return r;
  }
  bool Exists(const std::string& id) { return store_->GetRun(id).ok(); }

  TempDb db_{"kiln-retention"};
  std::unique_ptr<SqliteStore> store_ = db_.Open();
};

TEST_F(RetentionTest, DeletesWhatEndedLongerAgoThanTheRetentionAndKeepsTheRest) {
  const int64_t old = kNow - 8 * kDay, recent = kNow - 6 * kDay;
  ASSERT_TRUE(store_->UpsertRecords({Run("old", old), Run("recent", recent), Run("old-error", old, RunStatus::kError)},
                                    {ContainerRecord{.id = "c-old", .function = "f", .started_at = old, .ended_at = old},
                                     ContainerRecord{.id = "c-live", .function = "f", .started_at = old}})
                  .ok());
  // An old async run still in the queue is kept, however old.
  RunRecord queued = Run("queued", old, RunStatus::kQueued);
  ASSERT_TRUE(store_->EnqueueRun(queued, "{}", "key-1", 0, 100).ok());
  // An ended pipeline run goes with its step links; a running one keeps its step runs.
  PipelineRun ended{.id = "p-ended", .pipeline = "p", .steps = {{.function = "f"}}, .started_at = old};
  ASSERT_TRUE(store_->CreatePipelineRun(ended, {StepRun{Run("step-of-ended", old, RunStatus::kQueued), "{}", 0, 0, 100}}, "", 0).ok());
  ASSERT_TRUE(store_->DeleteQueuedRun("step-of-ended").ok());
  ASSERT_TRUE(store_->UpsertRecords({Run("step-of-ended", old)}, {}).ok());
  ended.status = PipelineRunStatus::kOk;
  ended.ended_at = old;
  ASSERT_TRUE(store_->EndPipelineRun(ended).ok());
  PipelineRun running{.id = "p-running", .pipeline = "p", .steps = {{.function = "f"}}, .started_at = old};
  ASSERT_TRUE(store_->CreatePipelineRun(running, {StepRun{Run("step-of-running", old, RunStatus::kQueued), "{}", 0, 0, 100}}, "", 0).ok());
  ASSERT_TRUE(store_->DeleteQueuedRun("step-of-running").ok());
  ASSERT_TRUE(store_->UpsertRecords({Run("step-of-running", old)}, {}).ok());

  EXPECT_EQ(Make()->SweepOnce(), 7);  // old, old-error, step-of-ended, c-old, p-ended, its link, key-1
  EXPECT_FALSE(Exists("old"));
  EXPECT_FALSE(Exists("old-error"));
  EXPECT_FALSE(Exists("step-of-ended"));
  EXPECT_TRUE(Exists("recent"));
  EXPECT_TRUE(Exists("queued"));
  EXPECT_TRUE(Exists("step-of-running"));
  EXPECT_EQ(store_->GetPipelineRun("p-ended").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetPipelineRun("p-running").ok());
  EXPECT_EQ(store_->ListPipelineTasks("p-running", std::nullopt)->size(), 1u);
  auto ended_containers = store_->ListEndedContainers(10);
  EXPECT_TRUE(ended_containers->empty());
  // The idempotency key is past its 24 h: the same key makes a new run now.
  auto again = store_->EnqueueRun(Run("queued-2", kNow, RunStatus::kQueued), "{}", "key-1", kNow - kDay, 100);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->created);
  EXPECT_EQ(Make()->SweepOnce(), 0);
}

TEST_F(RetentionTest, DeletesInBatchesUntilNothingIsLeft) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 25; ++i) runs.push_back(Run("r" + std::to_string(i), kNow - 30 * kDay));
  ASSERT_TRUE(store_->UpsertRecords(runs, {}).ok());
  EXPECT_EQ(Make(/*batch=*/4)->SweepOnce(), 25);
  EXPECT_TRUE(store_->ListRuns({.limit = 100})->empty());
}

TEST_F(RetentionTest, AuditEntriesAreKeptLongerThanRecords) {
  auto entry = [](int64_t at) { return AuditEntry{.at = at, .key_id = "k", .method = "POST", .path = "/v1/keys"}; };
  ASSERT_TRUE(store_->AppendAudit(entry(kNow - 91 * kDay)).ok());
  ASSERT_TRUE(store_->AppendAudit(entry(kNow - 30 * kDay)).ok());  // past the records' 7 days, within 90
  EXPECT_EQ(Make()->SweepOnce(), 1);
  auto left = store_->ListAudit(0, 10);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().at, kNow - 30 * kDay);
}

TEST_F(RetentionTest, SweepsMoreOftenThanTheRetentionButAtMostHourly) {
  RetentionConfig short_keep;
  short_keep.keep = std::chrono::seconds(10);
  EXPECT_EQ(Retention(db_.Open(), db_.Open(), short_keep, [] { return kNow; }).interval(), std::chrono::seconds(1));
  EXPECT_EQ(Make()->interval(), std::chrono::hours(1));
}

}  // namespace
}  // namespace kiln::runs
