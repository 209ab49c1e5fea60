// Publish admission: per-credential rate and overload pushback.
#include "publish/publish_admission.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

Grant Credential(std::string subject) {
  Grant grant;
  grant.subject = std::move(subject);
  return grant;
}

TEST(PublishAdmission, RefusesEveryPublishWhileDeliveryLagsTooFar) {
  Metrics metrics(1);
  absl::Duration lag = absl::ZeroDuration();
  PublishAdmission admission(/*per_second=*/0, absl::Milliseconds(100), [&] { return lag; },
                             [] { return false; }, metrics);
  Grant open;
  open.open = true;
  EXPECT_TRUE(admission.Allow(open).ok());
  lag = absl::Milliseconds(100);
  EXPECT_TRUE(admission.Allow(open).ok());
  lag = absl::Milliseconds(250);
  absl::Status refused = admission.Allow(open);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("retry after"), absl::string_view::npos);
  EXPECT_EQ(admission.Allow(Credential("ada")).code(), absl::StatusCode::kResourceExhausted);
  lag = absl::ZeroDuration();
  EXPECT_TRUE(admission.Allow(open).ok());
  EXPECT_NE(metrics.RenderPrometheus().find(
                "herald_publishes_refused_total{reason=\"overloaded\"} 2\n"),
            std::string::npos);
}

TEST(PublishAdmission, ZeroMaxLagNeverRefuses) {
  Metrics metrics(1);
  PublishAdmission admission(0, absl::ZeroDuration(), [] { return absl::Hours(1); },
                             [] { return true; }, metrics);
  EXPECT_TRUE(admission.Allow(Credential("ada")).ok());
}

TEST(PublishAdmission, RefusesEveryPublishWhileALoopWritesMoreSlowlyThanEventsCome) {
  Metrics metrics(1);
  bool backlogged = false;
  PublishAdmission admission(/*per_second=*/0, absl::Seconds(1),
                             [] { return absl::ZeroDuration(); }, [&] { return backlogged; },
                             metrics);
  Grant open;
  open.open = true;
  EXPECT_TRUE(admission.Allow(open).ok());
  backlogged = true;
  absl::Status refused = admission.Allow(open);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("write them out"), absl::string_view::npos);
  EXPECT_NE(refused.message().find("retry after"), absl::string_view::npos);
  backlogged = false;
  EXPECT_TRUE(admission.Allow(open).ok());
}

TEST(PublishAdmission, EachCredentialHasItsOwnRate) {
  Metrics metrics(1);
  PublishAdmission admission(/*per_second=*/1, absl::ZeroDuration(),
                             [] { return absl::ZeroDuration(); }, [] { return false; }, metrics);
  // Bursts of twice the rate.
  EXPECT_TRUE(admission.Allow(Credential("ada")).ok());
  EXPECT_TRUE(admission.Allow(Credential("ada")).ok());
  EXPECT_EQ(admission.Allow(Credential("ada")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(admission.Allow(Credential("bob")).ok());
  EXPECT_NE(metrics.RenderPrometheus().find(
                "herald_publishes_refused_total{reason=\"rate\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
