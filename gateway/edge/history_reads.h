// What history reads (/v1/history, gRPC History) share: the bytes of answers being written, and
// each credential's rate of reads.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "edge/answer_budget.h"
#include "publish/rate_limiter.h"

namespace herald {

// What a history read past its credential's rate (--history_rate) is told.
inline const absl::Status kHistoryRateExceeded =
    absl::ResourceExhaustedError("history read rate exceeded for this credential: retry after 1s");

struct HistoryReads {
  HistoryReads(size_t max_answer_bytes, double reads_per_second)
      : answers(max_answer_bytes), rates(reads_per_second) {}

  AnswerBudget answers;   // --max_history_answer_bytes
  CredentialRates rates;  // --history_rate
};

}  // namespace herald
