#include "store/sqlite_store.h"

#include <gtest/gtest.h>

#include "store/temp_db_for_test.h"

namespace kiln {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void TearDown() override { store_.reset(); }  // before the file goes

  TempDb db_{"kiln-store"};
  std::unique_ptr<SqliteStore> store_ = db_.Open();
};

TEST_F(SqliteStoreTest, VersionsAreNumberedPerFunction) {
  FunctionVersion v{.function = "iris", .blob = "sha256:aa"};
  v.layers = {{"ml", 2}};
  v.env = {{"K", "V"}};
  EXPECT_EQ(store_->CreateVersion(v)->version, 1);
  EXPECT_EQ(store_->CreateVersion(v)->version, 2);
  v.function = "wine";
  EXPECT_EQ(store_->CreateVersion(v)->version, 1);
  auto latest = store_->ListLatestVersions();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].function, "iris");
  EXPECT_EQ((*latest)[0].version, 2);
  EXPECT_EQ((*latest)[0].layers[0].name, "ml");
  EXPECT_EQ((*latest)[0].env.at("K"), "V");
}

TEST_F(SqliteStoreTest, ServingMovesOnlyToReadyVersionsAndNumbersOutliveRemoval) {
  FunctionVersion v{.function = "iris", .blob = "sha256:aa", .state = VersionState::kReady};
  ASSERT_TRUE(store_->CreateVersion(v).ok());  // created ready: serves at once
  EXPECT_EQ(store_->ListServing()->at("iris"), 1);
  v.state = VersionState::kStarting;
  ASSERT_EQ(store_->CreateVersion(v)->version, 2);
  EXPECT_EQ(store_->ListServing()->at("iris"), 1);  // not before its pre-warm
  EXPECT_EQ(store_->SetServing("iris", 2).code(), Code::kConflict);
  ASSERT_TRUE(store_->PublishVersion("iris", 2).ok());
  EXPECT_EQ(store_->ListServing()->at("iris"), 2);
  ASSERT_TRUE(store_->SetServing("iris", 1).ok());  // a rollback
  EXPECT_EQ(store_->ListServing()->at("iris"), 1);
  EXPECT_EQ(store_->DeleteVersion("iris", 1).code(), Code::kConflict);
  ASSERT_TRUE(store_->DeleteVersion("iris", 2).ok());
  EXPECT_EQ(store_->DeleteVersion("iris", 2).code(), Code::kNotFound);

  ASSERT_TRUE(store_->CreateRoute({.method = "POST", .path = "/p", .function = "iris"}).ok());
  ASSERT_TRUE(store_->CreateRoute({.method = "POST", .path = "/q", .function = "wine"}).ok());
  ASSERT_TRUE(store_->DeleteFunction("iris").ok());
  EXPECT_TRUE(store_->ListVersions("iris")->empty());
  EXPECT_EQ(store_->ListServing()->count("iris"), 0u);
  ASSERT_EQ(store_->ListRoutes()->size(), 1u);  // its routes went with it
  EXPECT_EQ(store_->DeleteFunction("iris").code(), Code::kNotFound);
  v.state = VersionState::kReady;
  EXPECT_EQ(store_->CreateVersion(v)->version, 3);  // numbering goes on
}

TEST_F(SqliteStoreTest, RouteTargetChangesInPlace) {
  auto r = store_->CreateRoute({.method = "POST", .path = "/p", .function = "iris"});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(store_->UpdateRoute(r->id, "wine", 3).ok());
  auto routes = store_->ListRoutes();
  EXPECT_EQ((*routes)[0].function, "wine");
  EXPECT_EQ((*routes)[0].version, std::optional<int64_t>(3));
  EXPECT_EQ(store_->UpdateRoute(999, "wine", std::nullopt).code(), Code::kNotFound);
}

TEST_F(SqliteStoreTest, RunSamplesAndPrefixesReadTheIndex) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 5; ++i) {
    RunRecord r;
    r.id = "abcd-" + std::to_string(i);
    r.function = i < 3 || i == 4 ? "iris" : "wine";
    if (i == 4) r.trigger = "deploy";  // a pre-warm: not a sample
    r.started_at = i == 4 ? 2500 : 1000 * (i + 1);
    r.duration_ms = 0.5 * i;
    r.status = i == 2 ? RunStatus::kThrottled : RunStatus::kOk;
    r.stands_for = i == 2 ? 7 : 1;
    runs.push_back(r);
  }
  ASSERT_TRUE(store_->UpsertRecords(runs, {}).ok());
  std::vector<RunSample> samples;
  ASSERT_TRUE(store_->VisitRunSamples("iris", 2000, [&](const RunSample& s) { samples.push_back(s); }).ok());
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(store_->LastRunStarted("iris")->value_or(0), 3000);
  EXPECT_FALSE(store_->LastRunStarted("nothing")->has_value());
  int64_t throttled = 0;
  for (const RunSample& s : samples) throttled += s.status == RunStatus::kThrottled ? s.stands_for : 0;
  EXPECT_EQ(throttled, 7);
  EXPECT_EQ(store_->FindRunIds("abcd-", 2)->size(), 2u);
  EXPECT_EQ(store_->FindRunIds("abcd-3", 2)->front(), "abcd-3");
  EXPECT_TRUE(store_->FindRunIds("abce", 2)->empty());
}

TEST_F(SqliteStoreTest, DuplicateRouteIsAConflict) {
  Route r{.method = "POST", .path = "/predict", .function = "iris"};
  ASSERT_TRUE(store_->CreateRoute(r).ok());
  auto again = store_->CreateRoute(r);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kConflict);
  r.method = "GET";
  EXPECT_TRUE(store_->CreateRoute(r).ok());
  EXPECT_EQ(store_->ListRoutes()->size(), 2u);
  EXPECT_EQ(store_->DeleteRoute(999).code(), Code::kNotFound);
}

TEST_F(SqliteStoreTest, RunsFilterAndOrderNewestFirst) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 5; ++i) {
    RunRecord r;
    r.id = "run-" + std::to_string(i);
    r.function = i < 4 ? "iris" : "wine";
    r.cold = i == 0;
    r.init_ms = i == 0 ? std::optional<double>(12.5) : std::nullopt;
    r.status = i == 3 ? RunStatus::kError : RunStatus::kOk;
    r.logs = "log " + std::to_string(i);
    runs.push_back(r);
  }
  ASSERT_TRUE(store_->UpsertRecords(runs, {}).ok());
  auto iris = store_->ListRuns({.function = "iris"});
  ASSERT_EQ(iris->size(), 4u);
  EXPECT_EQ((*iris)[0].id, "run-3");
  EXPECT_EQ((*iris)[3].id, "run-0");
  EXPECT_TRUE((*iris)[0].logs.empty()) << "listings leave logs out";
  EXPECT_EQ(store_->ListRuns({.function = "iris", .cold = true})->size(), 1u);
  EXPECT_EQ(store_->ListRuns({.status = RunStatus::kError})->size(), 1u);
  EXPECT_EQ(store_->ListRuns({.limit = 2})->size(), 2u);
  auto one = store_->GetRun("run-0");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->logs, "log 0");
  EXPECT_EQ(*one->init_ms, 12.5);
  EXPECT_EQ(store_->GetRun("nope").status().code(), Code::kNotFound);
}

TEST_F(SqliteStoreTest, KeysKeepRoleExpiryRotationAndLastUse) {
  ApiKeyRecord k{.id = "abcdefgh", .name = "k", .secret_sha256 = "s1", .routes = {"/p"},
                 .role = ControlRole::kDeployer, .created_at = 5, .expires_at = 99};
  ASSERT_TRUE(store_->CreateKey(k).ok());
  ASSERT_TRUE(store_->RotateKey("abcdefgh", "s2", "s1", 50).ok());
  EXPECT_EQ(store_->RotateKey("nosuchid", "a", "b", 1).code(), Code::kNotFound);
  ASSERT_TRUE(store_->RecordKeyUse({{"abcdefgh", 70}, {"gone", 1}}).ok());
  ASSERT_TRUE(store_->RecordKeyUse({{"abcdefgh", 60}}).ok());  // never moves back
  auto keys = store_->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  const ApiKeyRecord& got = keys->front();
  EXPECT_EQ(got.role, ControlRole::kDeployer);
  EXPECT_EQ(got.expires_at, 99);
  EXPECT_EQ(got.secret_sha256, "s2");
  EXPECT_EQ(got.previous_sha256, "s1");
  EXPECT_EQ(got.previous_valid_until, 50);
  EXPECT_EQ(got.last_used_at, 70);
  EXPECT_FALSE(got.legacy);
  EXPECT_EQ(got.routes, std::vector<std::string>{"/p"});
}

TEST_F(SqliteStoreTest, AuditLogListsTheNewestSinceOldestFirst) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(store_->AppendAudit({.at = i * 10, .key_id = "k" + std::to_string(i), .role = ControlRole::kAdmin,
                                     .source = "127.0.0.1", .method = "POST", .path = "/v1/routes", .status = 201,
                                     .target = "t"}).ok());
  }
  auto all = store_->ListAudit(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(all->front().key_id, "k1");
  EXPECT_EQ(all->front().role, ControlRole::kAdmin);
  EXPECT_EQ(all->front().status, 201);
  auto newest = store_->ListAudit(20, 2);
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].key_id, "k4");
  EXPECT_EQ((*newest)[1].key_id, "k5");
  EXPECT_EQ(*store_->PurgeAudit(31, 100), 3);
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), 2u);
}

TEST_F(SqliteStoreTest, ASchemaNewerThanThisKilnKnowsIsRefusedAndKept) {
  store_.reset();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db_.path().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto refused = SqliteStore::Open(db_.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("schema is version 999, newer than this kiln knows"), std::string::npos);
  ASSERT_EQ(sqlite3_open(db_.path().c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(q, 0), 999);  // not set back
  sqlite3_finalize(q);
  sqlite3_close(raw);
}

TEST_F(SqliteStoreTest, StateSurvivesReopen) {
  ASSERT_TRUE(store_->CreateKey({.id = "abcdefgh", .name = "k", .secret_sha256 = "00", .role = ControlRole::kAdmin}).ok());
  ASSERT_TRUE(store_->CreateLayerVersion({.name = "ml", .digest = "sha256:1"}).ok());
  store_.reset();
  auto reopened = db_.Open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->ListKeys()->size(), 1u);
  EXPECT_EQ(reopened->ListLayerVersions("ml")->front().version, 1);
  EXPECT_EQ(reopened->CreateLayerVersion({.name = "ml", .digest = "sha256:2"})->version, 2);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST_F(SqliteStoreTest, UpsertKeepsPlaceAndInterruptedRunsAreClosed) {
  RunRecord a{.id = "a", .function = "f", .status = RunStatus::kRunning};
  RunRecord b{.id = "b", .function = "f", .status = RunStatus::kRunning};
  ASSERT_TRUE(store_->UpsertRecords({a, b}, {}).ok());
  a.status = RunStatus::kOk;
  a.logs = "done";
  ASSERT_TRUE(store_->UpsertRecords({a}, {}).ok());
  auto runs = store_->ListRuns({});
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[1].id, "a") << "the update kept a's place (older than b)";
  EXPECT_EQ((*runs)[1].status, RunStatus::kOk);
  EXPECT_EQ(*store_->CloseInterruptedRuns("daemon died"), 1);
  auto closed = store_->GetRun("b");
  EXPECT_EQ(closed->status, RunStatus::kCrashed);
  EXPECT_EQ(closed->error_message, "daemon died");
  EXPECT_EQ(store_->GetRun("a")->status, RunStatus::kOk);
}

RunRecord Queued(const std::string& id, const std::string& function, int64_t at) {
  RunRecord r;
  r.id = id;
  r.function = function;
  r.version = 1;
  r.trigger = "async";
  r.started_at = at;
  r.status = RunStatus::kQueued;
  r.attempt = 0;
  return r;
}

TEST_F(SqliteStoreTest, EnqueueIsIdempotentPerKeyAndBounded) {
  auto a = store_->EnqueueRun(Queued("r1", "f", 1000), "{}", "k", 0, 2);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->created);
  auto again = store_->EnqueueRun(Queued("r2", "f", 2000), "{}", "k", 0, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->run_id, "r1");
  EXPECT_FALSE(again->created);
  EXPECT_EQ(store_->GetRun("r2").status().code(), Code::kNotFound);  // nothing recorded
  // The key outside its window starts a new run.
  auto later = store_->EnqueueRun(Queued("r3", "f", 3000), "{}", "k", 2500, 2);
  EXPECT_TRUE(later.ok() && later->created && later->run_id == "r3");
  // Two are queued: a third is refused, and other functions are not counted.
  EXPECT_EQ(store_->EnqueueRun(Queued("r4", "f", 4000), "{}", "", 0, 2).status().code(),
            Code::kResourceExhausted);
  EXPECT_TRUE(store_->EnqueueRun(Queued("r5", "g", 4000), "{}", "", 0, 2).ok());
  EXPECT_EQ(store_->GetRun("r1")->status, RunStatus::kQueued);
}

TEST_F(SqliteStoreTest, LeasesExpireAndADeadDaemonsRunsGoBack) {
  ASSERT_TRUE(store_->EnqueueRun(Queued("r1", "f", 1000), "{\"x\":1}", "", 0, 10).ok());
  ASSERT_TRUE(store_->EnqueueRun(Queued("r2", "f", 1001), "{}", "", 0, 10).ok());
  auto leased = store_->LeaseRuns("a", 5000, 35000, 10);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_EQ((*leased)[0].run_id, "r1");
  EXPECT_EQ((*leased)[0].event, "{\"x\":1}");
  EXPECT_TRUE(store_->LeaseRuns("b", 6000, 36000, 10)->empty());  // leased by a
  EXPECT_EQ(store_->LeaseRuns("b", 40000, 70000, 10)->size(), 2u);  // a's lease ran out
  ASSERT_TRUE(store_->StartAttempt("r1", 1).ok());
  RunRecord running = Queued("r1", "f", 1000);
  running.status = RunStatus::kRunning;
  running.attempt = 1;
  ASSERT_TRUE(store_->UpsertRecords({running}, {}).ok());
  // A restart: the running run is not closed as crashed but queued again, attempt kept.
  EXPECT_EQ(*store_->CloseInterruptedRuns("stopped"), 0);
  EXPECT_EQ(*store_->ReleaseLeases(), 2);
  EXPECT_EQ(store_->GetRun("r1")->status, RunStatus::kQueued);
  auto again = store_->LeaseRuns("c", 41000, 71000, 10);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].attempt, 1);
  // Requeued with a delay: not ready before it; deleted: gone.
  ASSERT_TRUE(store_->RequeueRun("r1", 50000).ok());
  ASSERT_TRUE(store_->DeleteQueuedRun("r2").ok());
  EXPECT_TRUE(store_->LeaseRuns("c", 49000, 79000, 10)->empty());
  EXPECT_EQ(store_->LeaseRuns("c", 50000, 80000, 10)->size(), 1u);
}

StepRun QueuedStep(const std::string& id, int64_t element, int64_t max_queued = 100) {
  RunRecord r;
  r.id = id;
  r.function = "score";
  r.version = 1;
  r.trigger = "pipeline";
  r.status = RunStatus::kQueued;
  r.attempt = 0;
  r.started_at = 1000;
  return StepRun{r, "{\"i\":" + std::to_string(element) + "}", element, 5000, max_queued};
}

TEST_F(SqliteStoreTest, PipelineRunsAdvanceOnceFromEachStep) {
  PipelineRun run{.id = "p1", .pipeline = "bulk", .steps = {{.function = "split"}, {.function = "score", .map = true}},
                  .started_at = 1000};
  ASSERT_TRUE(store_->CreatePipelineRun(run, {QueuedStep("s0", 0)}, "", 0).ok());
  EXPECT_EQ(*store_->CountPendingTasks("p1", 0), 1);
  auto leased = store_->LeaseRuns("me", 2000, 9000, 10);
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].pipeline_run, "p1");
  EXPECT_EQ((*leased)[0].budget_ms, 5000);
  ASSERT_TRUE(store_->DeleteQueuedRun("s0").ok());
  EXPECT_EQ(*store_->CountPendingTasks("p1", 0), 0);

  EXPECT_TRUE(*store_->AdvancePipelineRun("p1", 0, {QueuedStep("e0", 0), QueuedStep("e1", 1)}));
  // A second pass from the same step writes nothing: no duplicate runs.
  EXPECT_FALSE(*store_->AdvancePipelineRun("p1", 0, {QueuedStep("x0", 0)}));
  EXPECT_EQ(store_->GetRun("x0").status().code(), Code::kNotFound);
  auto got = store_->GetPipelineRun("p1");
  EXPECT_EQ(got->current_step, 1);
  EXPECT_EQ(got->steps[1].map, true);
  auto tasks = store_->ListPipelineTasks("p1", 1);
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[1].element, 1);
  EXPECT_EQ((*tasks)[1].run.id, "e1");
  EXPECT_EQ((*tasks)[1].run.trigger, "pipeline");
  EXPECT_TRUE((*tasks)[1].pending);
  EXPECT_EQ(store_->ListPipelineTasks("p1", std::nullopt)->size(), 3u);

  got->status = PipelineRunStatus::kFailed;
  got->failed_step = 1;
  got->ended_at = 3000;
  got->error_message = "step 1 failed";
  EXPECT_TRUE(*store_->EndPipelineRun(*got));
  EXPECT_FALSE(*store_->EndPipelineRun(*got));  // ended once
  EXPECT_FALSE(*store_->AdvancePipelineRun("p1", 1, {}));
  EXPECT_EQ(store_->ListPipelineRuns("bulk", /*running_only=*/true, 10)->size(), 0u);
  EXPECT_EQ(store_->ListPipelineRuns("bulk", /*running_only=*/false, 10)->front().error_message, "step 1 failed");
}

TEST_F(SqliteStoreTest, AStepPastItsFunctionsQueueBoundQueuesNothing) {
  PipelineRun run{.id = "p2", .pipeline = "bulk", .steps = {{.function = "score", .map = true}}, .started_at = 1000};
  auto st = store_->CreatePipelineRun(run, {QueuedStep("a", 0, 2), QueuedStep("b", 1, 2), QueuedStep("c", 2, 2)},
                                      "", 0).status();
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_NE(st.message().find("max_queued 2"), std::string::npos) << st.message();
  EXPECT_EQ(store_->GetPipelineRun("p2").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetRun("a").status().code(), Code::kNotFound);
}

TEST_F(SqliteStoreTest, AnIdempotencyKeySeenForThePipelineStartsNothing) {
  PipelineRun run{.id = "p3", .pipeline = "bulk", .steps = {{.function = "score"}}, .started_at = 1000};
  EXPECT_TRUE(store_->CreatePipelineRun(run, {QueuedStep("s", 0)}, "job-7", 0)->created);
  PipelineRun again = run;
  again.id = "p4";
  auto second = store_->CreatePipelineRun(again, {QueuedStep("s2", 0)}, "job-7", 500);
  EXPECT_EQ(second->run_id, "p3");
  EXPECT_FALSE(second->created);
  EXPECT_EQ(store_->GetRun("s2").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetPipelineRun("p4").status().code(), Code::kNotFound);
  // The same key for a function of the same name is another scope; past the window, a new run.
  EXPECT_TRUE(store_->EnqueueRun(QueuedStep("f1", 0).run, "{}", "job-7", 0, 100)->created);
  EXPECT_TRUE(store_->CreatePipelineRun(again, {QueuedStep("s3", 0)}, "job-7", 2000)->created);
}

TEST_F(SqliteStoreTest, PipelineDefinitionsAreCreatedReplacedAndDeleted) {
  Pipeline p{"bulk", {{.function = "split"}, {.function = "score", .version = 3, .map = true, .items = "chunks",
                       .timeout_ms = 60000}}, 1, 1};
  EXPECT_TRUE(*store_->PutPipeline(p));
  p.steps.pop_back();
  p.updated_at = 2;
  EXPECT_FALSE(*store_->PutPipeline(p));
  auto got = store_->GetPipeline("bulk");
  EXPECT_EQ(got->steps.size(), 1u);
  EXPECT_EQ(got->updated_at, 2);
  EXPECT_TRUE(store_->DeletePipeline("bulk").ok());
  EXPECT_EQ(store_->DeletePipeline("bulk").code(), Code::kNotFound);
  EXPECT_TRUE(store_->ListPipelines()->empty());
}

TEST_F(SqliteStoreTest, MakeReadyLeavesLeasedRunsAlone) {
  for (const char* id : {"waiting", "leased"}) {
    RunRecord r;
    r.id = id;
    r.function = "f";
    r.started_at = 1000;
    r.status = RunStatus::kQueued;
    ASSERT_TRUE(store_->EnqueueRun(r, "{}", "", 0, 100).ok());
  }
  ASSERT_EQ(store_->LeaseRuns("me", 1000, 60000, 1)->front().run_id, "waiting");
  ASSERT_TRUE(store_->RequeueRun("waiting", 5000).ok());  // no room: back for a while
  ASSERT_EQ(store_->LeaseRuns("me", 1000, 60000, 1)->front().run_id, "leased");
  ASSERT_TRUE(store_->MakeReady({"waiting", "leased"}, 1100).ok());
  auto ready = store_->LeaseRuns("other", 1100, 60000, 10);
  ASSERT_EQ(ready->size(), 1u);  // "leased" keeps its lease: never delivered twice
  EXPECT_EQ(ready->front().run_id, "waiting");
}

}  // namespace
}  // namespace kiln
