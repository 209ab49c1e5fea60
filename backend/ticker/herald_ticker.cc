// herald-ticker: an example service publishing a random walk of prices over one PublishStream.
//
// Every --interval it moves each symbol's price a little and publishes one event per symbol on
// `prices.<SYMBOL>` (type `price`, JSON {"symbol","price","change"}) through a single long-lived
// PublishStream. A reader thread takes the answers (one per event, in order) and logs refused
// items. When the stream breaks (the gateway restarts), it opens a new one after --retry_delay,
// doubled after each attempt that got no answer, up to kMaxRetryDelay.
// Prices are live data: ticks written on a stream that broke are not sent again.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "publisher/publisher.h"
#include "tool/tool_flags.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the Herald gateway.");
ABSL_FLAG(std::string, token, "",
          "Bearer token sent as 'authorization: Bearer <token>' (JWT or publisher key).");
ABSL_FLAG(bool, tls, false, "Connect with TLS (implied by the --tls_* file flags).");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates the gateway's certificate must chain to (default: system roots).");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate, for mutual TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the gateway's certificate must carry, when it is not the --target host.");
ABSL_FLAG(std::vector<std::string>, symbols,
          (std::vector<std::string>{"HRLD", "ACME", "GLBX", "NOVA"}),
          "Comma-separated symbols; each one is published on the topic prices.<SYMBOL>.");
ABSL_FLAG(absl::Duration, interval, absl::Milliseconds(500),
          "Time between ticks; every tick publishes one price per symbol.");
ABSL_FLAG(int64_t, count, 0, "Ticks to publish before exiting; 0 = run until SIGINT/SIGTERM.");
ABSL_FLAG(absl::Duration, retry_delay, absl::Seconds(1),
          "Wait before opening a new stream after one broke (gateway down or restarting); "
          "doubles while the gateway stays unreachable, up to 5s (or this delay when larger).");

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr absl::Duration kMaxRetryDelay = absl::Seconds(5);

constexpr char kUsage[] =
    "An example Herald publisher: a random walk of prices over one gRPC PublishStream.\n"
    "\n"
    "  herald-ticker [--target=127.0.0.1:50051] [--symbols=HRLD,ACME] [--interval=500ms]\n"
    "\n"
    "Publishes on prices.<SYMBOL>, type 'price', content type application/json, data\n"
    "{\"symbol\":\"HRLD\",\"price\":123.45,\"change\":-0.07} (change since the previous tick).\n"
    "Runs until SIGINT/SIGTERM, or for --count ticks, and reconnects when the gateway restarts.\n"
    "Exit status: 0 done, 1 the last stream failed, 2 bad usage.";

// Set by SIGINT/SIGTERM: finish the current stream cleanly and exit.
std::atomic<bool> stopping{false};

void OnSignal(int signal) {
  stopping.store(true);
  std::signal(signal, SIG_DFL);  // A second Ctrl-C ends the process at once.
}

// Sleeps until `deadline`; false (at once) when a stop signal arrives.
bool SleepUntil(absl::Time deadline) {
  while (!stopping.load()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(50)));
  }
  return false;
}

void Log(const std::string& line) { std::fprintf(stderr, "herald-ticker: %s\n", line.c_str()); }

// Symbols become topic segments: letters, digits, '_' and '-'.
bool ValidSymbol(absl::string_view symbol) {
  if (symbol.empty() || symbol.size() > 32) return false;
  return std::all_of(symbol.begin(), symbol.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// A random walk of prices, kept in cents so that every published price has two decimals.
class Market {
 public:
  explicit Market(const std::vector<std::string>& symbols) : random_(std::random_device{}()) {
    std::uniform_int_distribution<int64_t> opening(1'000, 50'000);  // $10.00 to $500.00
    for (const std::string& symbol : symbols) quotes_.push_back({symbol, opening(random_), 0});
  }

  // Moves every price by a small random step (about 0.2% of the price, either way) and returns
  // one publish request per symbol.
  std::vector<herald::v1::PublishRequest> Tick() {
    std::vector<herald::v1::PublishRequest> requests;
    for (Quote& quote : quotes_) {
      std::normal_distribution<double> step(0.0, static_cast<double>(quote.cents) * 0.002);
      const int64_t previous = quote.cents;
      quote.cents = std::max<int64_t>(1, quote.cents + static_cast<int64_t>(step(random_)));
      quote.change = quote.cents - previous;

      herald::v1::PublishRequest request;
      request.set_topic(absl::StrCat("prices.", quote.symbol));
      request.set_type("price");
      request.set_content_type("application/json");
      request.set_data(absl::StrFormat(R"({"symbol":"%s","price":%s,"change":%s})", quote.symbol,
                                       Decimal(quote.cents), Decimal(quote.change)));
      requests.push_back(std::move(request));
    }
    return requests;
  }

 private:
  struct Quote {
    std::string symbol;
    int64_t cents;
    int64_t change;  // since the previous tick
  };

  // 12345 -> "123.45", -7 -> "-0.07".
  static std::string Decimal(int64_t cents) {
    const int64_t magnitude = cents < 0 ? -cents : cents;
    return absl::StrFormat("%s%d.%02d", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
  }

  std::mt19937_64 random_;
  std::vector<Quote> quotes_;
};

// Publishes ticks over one PublishStream until the ticks run out (`ticks_left` counts down; < 0
// means forever), a stop signal arrives, or the stream breaks. Returns the stream's status;
// `answered` tells whether the gateway answered anything on it.
absl::Status RunStream(herald::Publisher& publisher, Market& market, int64_t& ticks_left,
                       absl::Time& next_tick, bool& answered) {
  std::unique_ptr<herald::PublishStream> stream = publisher.OpenStream();

  // One answer per request, in order. Reading on a thread of its own means the writes below never
  // stall on flow control because answers are not being read.
  answered = false;
  std::thread reader([&stream, &answered] {
    while (true) {
      absl::StatusOr<herald::v1::PublishResponse> response = stream->Read();
      if (!response.ok()) return;  // End of the stream; Finish() says why.
      if (absl::Status item = herald::ResponseStatus(*response); !item.ok()) {
        Log(absl::StrCat(response->topic(), " refused: ", item.ToString()));
      } else if (!answered) {
        Log(absl::StrCat("publishing (", response->topic(), " at offset ", response->offset(),
                         ")"));
      }
      answered = true;
    }
  });

  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  bool broken = false;
  while (!broken && ticks_left != 0 && SleepUntil(next_tick)) {
    // A fixed rate; after a stall it goes on from now rather than catching up in a burst.
    next_tick = std::max(next_tick + interval, absl::Now());
    if (ticks_left > 0) --ticks_left;
    for (const herald::v1::PublishRequest& request : market.Tick()) {
      if (!stream->Write(request).ok()) {
        broken = true;
        break;
      }
    }
  }
  // Half-close: the gateway answers what it has received, then ends the stream, and the reader
  // returns. On a broken stream this fails and the reader has already seen the end.
  (void)stream->WritesDone();
  reader.join();
  return stream->Finish();
}

// Reads the --tls_* files into `options`.
absl::Status ReadTlsFlags(herald::PublisherOptions& options) {
  return herald::ApplyTlsFiles({absl::GetFlag(FLAGS_tls), absl::GetFlag(FLAGS_tls_ca_file),
                                absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                                absl::GetFlag(FLAGS_tls_server_name)},
                               options);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "herald-ticker: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> positional = herald::ParseToolFlags(argc, argv, "herald-ticker", kUsage, "herald_ticker");
  if (positional.size() > 1)
    return Usage(absl::StrCat("unexpected argument '", positional[1], "'"));

  const std::vector<std::string> symbols = absl::GetFlag(FLAGS_symbols);
  if (symbols.empty()) return Usage("--symbols is empty");
  for (const std::string& symbol : symbols) {
    if (!ValidSymbol(symbol)) {
      return Usage(absl::StrCat("bad symbol '", symbol, "': use letters, digits, '_' and '-'"));
    }
  }
  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  if (interval <= absl::ZeroDuration()) return Usage("--interval must be positive");
  const int64_t count = absl::GetFlag(FLAGS_count);
  if (count < 0) return Usage("--count must be 0 (forever) or more");

  herald::PublisherOptions options;
  if (absl::Status status = ReadTlsFlags(options); !status.ok()) {
    return Usage(std::string(status.message()));
  }
  options.target = absl::GetFlag(FLAGS_target);
  options.token = absl::GetFlag(FLAGS_token);
  herald::Publisher publisher(options);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  Log(absl::StrCat("prices of ", absl::StrJoin(symbols, ","), " to ", options.target, " every ",
                   absl::FormatDuration(interval)));
  Market market(symbols);
  int64_t ticks_left = count > 0 ? count : -1;
  absl::Time next_tick = absl::Now();
  const absl::Duration first_retry_delay = absl::GetFlag(FLAGS_retry_delay);
  const absl::Duration max_retry_delay = std::max(first_retry_delay, kMaxRetryDelay);
  absl::Duration retry_delay = first_retry_delay;
  while (true) {
    bool answered = false;
    absl::Status status = RunStream(publisher, market, ticks_left, next_tick, answered);
    if (ticks_left == 0 || stopping.load()) {
      if (!status.ok()) Log(absl::StrCat("stream failed: ", status.ToString()));
      return status.ok() ? kExitOk : kExitFailed;
    }
    // A stream that worked for a while retries after --retry_delay; attempts that got nowhere
    // (the gateway is still down) back off.
    if (answered) retry_delay = first_retry_delay;
    Log(absl::StrCat("stream ended (", status.ToString(), "); opening a new one in ",
                     absl::FormatDuration(retry_delay)));
    if (!SleepUntil(absl::Now() + retry_delay)) return kExitOk;
    retry_delay = std::min(retry_delay * 2, max_retry_delay);
    next_tick = absl::Now();
  }
}
