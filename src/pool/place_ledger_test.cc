#include "pool/place_ledger.h"

#include <gtest/gtest.h>

namespace kiln::pool {
namespace {

TEST(PlaceLedger, NoPlaceBeyondTheCapWithoutARecycle) {
  PlaceLedger places(2);
  places.Take();
  places.Take();
  EXPECT_FALSE(places.Admits());
  EXPECT_EQ(places.free(), 0u);
  places.Give("c-1");
  EXPECT_TRUE(places.Admits());
}

TEST(PlaceLedger, ARecycledContainersSuccessorMayExceedTheCapByOne) {
  PlaceLedger places(2);
  places.Take();
  places.Take();
  ASSERT_TRUE(places.Admits("c-1"));
  places.Take("c-1");
  EXPECT_EQ(places.taken(), 3u);
  EXPECT_EQ(places.replacing().value_or(""), "c-1");
  // One recycle at a time: the second recycled container's successor waits.
  EXPECT_FALSE(places.Admits("c-2"));
  EXPECT_FALSE(places.Admits());
}

TEST(PlaceLedger, TheExtraPlaceEndsWhenTheReplacedContainerGoes) {
  PlaceLedger places(2);
  places.Take();
  places.Take();
  places.Take("c-1");
  places.Give("c-2");  // another container went: still the recycle's extra place in use
  EXPECT_FALSE(places.Admits("c-2"));
  places.Give("c-1");  // the replaced one went
  EXPECT_FALSE(places.replacing().has_value());
  EXPECT_EQ(places.taken(), 1u);
  EXPECT_TRUE(places.Admits());
}

TEST(PlaceLedger, UnderTheCapASuccessorTakesAnOrdinaryPlace) {
  PlaceLedger places(2);
  places.Take();
  places.Take("c-1");
  EXPECT_FALSE(places.replacing().has_value());
  EXPECT_TRUE(places.Admits("c-2"));
}

TEST(PlaceLedger, TakingWhatWasNotAdmittedIsABrokenInvariant) {
  PlaceLedger places(1);
  places.Take();
  EXPECT_DEATH(places.Take(), "");
}

}  // namespace
}  // namespace kiln::pool
