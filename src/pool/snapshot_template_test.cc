#include "pool/snapshot_template.h"

#include <gtest/gtest.h>

namespace kiln::pool {
namespace {

using State = SnapshotTemplate::State;

TEST(SnapshotTemplate, IsMadeServesAndIsMadeAgainAfterItGoes) {
  SnapshotTemplate t;
  EXPECT_EQ(t.state(), State::kNone);
  t.BeginMaking();
  t.Ready(nullptr, nullptr);
  EXPECT_EQ(t.state(), State::kReady);
  t.CountFork();
  EXPECT_EQ(t.forks(), 1);
  t.Reset();
  EXPECT_EQ(t.state(), State::kNone);
  t.BeginMaking();
  t.Ready(nullptr, nullptr);
  EXPECT_EQ(t.forks(), 0);  // counted per template
}

TEST(SnapshotTemplate, ARefusalIsFinal) {
  SnapshotTemplate t;
  t.Refuse("a thread is running");  // the fork-safety check, at the first init
  EXPECT_EQ(t.state(), State::kRefused);
  EXPECT_EQ(t.refusal(), "a thread is running");
  EXPECT_DEATH(t.BeginMaking(), "");
  SnapshotTemplate making;
  making.BeginMaking();
  making.Refuse("the snapshot said no");
  EXPECT_EQ(making.state(), State::kRefused);
}

TEST(SnapshotTemplate, IllegalTransitionsAreBrokenInvariants) {
  SnapshotTemplate t;
  EXPECT_DEATH(t.Ready(nullptr, nullptr), "");  // never asked to snapshot
  EXPECT_DEATH(t.Reset(), "");                  // nothing to reset
  t.BeginMaking();
  t.Ready(nullptr, nullptr);
  EXPECT_DEATH(t.Refuse("late"), "");  // a ready template is not refused
}

}  // namespace
}  // namespace kiln::pool
