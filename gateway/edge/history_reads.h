// What history reads (/v1/history, gRPC History) share: the bytes of answers being written, and
// each credential's rate of reads.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "auth/grant.h"
#include "edge/answer_budget.h"
#include "publish/rate_limiter.h"

namespace herald {

// What a history or presence read past its credential's rate (--history_rate) is told.
inline const absl::Status kReadRateExceeded = absl::ResourceExhaustedError(
    "history and presence read rate exceeded for this credential: retry after 1s");

// Why an answer of `bytes` did not get a place in `answers`: too many being written (retry
// shortly), or larger than the whole budget (ask for fewer events).
inline absl::Status HistoryAnswerRefused(const AnswerBudget& answers, size_t bytes) {
  if (!answers.fits(bytes)) {  // Not worth retrying as it is: 400 / OUT_OF_RANGE.
    return absl::OutOfRangeError(absl::StrCat(
        "this history answer (", bytes,
        " bytes) is larger than a reader's share of --max_history_answer_bytes (",
        answers.owner_bytes(), "): ask for fewer events (limit)"));
  }
  return absl::ResourceExhaustedError(
      "too many history answers are being written, for this credential or in all; retry shortly");
}

// Whose share of the answer budget a read takes: its credential, or its client's address when it
// has none (open access, a token without `sub`).
inline std::string HistoryReader(const Grant& grant, const std::string& address_bucket) {
  std::string credential = grant.CredentialKey();
  return credential.empty() ? absl::StrCat("address\n", address_bucket) : credential;
}

struct HistoryReads {
  HistoryReads(size_t max_answer_bytes, double reads_per_second)
      : answers(max_answer_bytes), rates(reads_per_second) {}

  AnswerBudget answers;   // --max_history_answer_bytes
  CredentialRates rates;  // --history_rate
};

}  // namespace herald
