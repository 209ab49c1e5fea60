// The receiving side of the bench: many WebSocket and SSE clients on a few io_context threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "histogram.h"

namespace herald::bench {

struct FleetOptions {
  std::string http_host;  // "127.0.0.1"
  uint16_t http_port = 0;
  size_t ws_clients = 0;
  size_t sse_clients = 0;
  size_t topics = 1;
  size_t threads = 1;
  // Connection attempts in flight per thread.
  size_t connect_concurrency = 256;
  // Drop() resets connections (SO_LINGER 0: RST) instead of closing them with a FIN.
  bool drop_with_reset = false;
  // Sent as ?token= on every /ws and /sse request when set (a gateway with auth on).
  std::string token;
  // Plain servers (nchan, a Node.js server): every WS message and every SSE `data:` line is one
  // bare payload, with no connected message and no offsets. A client is connected once its
  // handshake (WS) or response head (SSE) arrived, and numbers the events it receives 1, 2, ...
  // Its requests go to plain_ws_path / plain_sse_path + topic.
  bool plain = false;
  std::string plain_ws_path;   // "/ws/"
  std::string plain_sse_path;  // "/sse/"
  // When set, clients speak TLS (wss://, https://) and trust the certificates this PEM file
  // holds.
  std::string tls_ca_file;
};

// The name of topic `index` as used by every part of the bench.
std::string TopicName(size_t index);

// What one client saw; read once the fleet is stopped.
struct ClientReport {
  bool sse = false;
  size_t topic = 0;
  bool connected = false;        // got its first message
  bool ended_early = false;      // closed / failed after connecting
  std::string error;             // why it failed or ended
  uint32_t disconnect_code = 0;  // from `disconnect` / herald.disconnect or the close frame
  uint64_t frames = 0;           // WS messages or HTTP chunks, whole life
  uint64_t measured_frames = 0;  // frames carrying at least one measured event
  uint64_t measured_events = 0;  // new (in order or after a gap) measured events
  uint64_t warmup_events = 0;
  uint64_t gaps = 0;            // offsets skipped
  uint64_t duplicates = 0;      // offsets at or below the last seen one
  uint64_t unexpected = 0;      // events of another topic, or with a payload not from the bench
  int64_t last_receive_ns = 0;  // unix ns of the last measured event

  // Reconnect storm (ClientFleet::Drop + Reconnect); times are ns since the reconnect began.
  bool reconnecting = false;         // took part in the reconnect
  bool reconnected = false;          // got the first message of its new connection
  bool reconnect_failed = false;     // the new connection failed or ended before recovering
  bool recover_reply = false;        // got its subscribe reply (WS) / herald.connected (SSE)
  bool recovered_flag = false;       // that reply said recovered=true
  bool recovered = false;            // reply seen and every event up to the target received
  std::string recover_error;         // error reply, ...
  uint64_t epoch_mismatches = 0;     // events or replies with another epoch than it had
  uint64_t resume_offset = 0;        // the position it resumed from
  uint64_t resumed_events = 0;       // new events received on the new connection
  int64_t reconnect_start_ns = 0;    // when its own connection attempt started
  int64_t reconnect_connected_ns = 0;
  int64_t recover_reply_ns = 0;
  int64_t recovered_ns = 0;
};

struct FleetReport {
  std::vector<ClientReport> clients;
  Histogram latency_ns;  // publish -> receive, measured events only
  Histogram connect_ns;  // connect start -> first message
};

class Client;
struct Worker;

// Owns every client and the threads that run them.
class ClientFleet {
 public:
  explicit ClientFleet(FleetOptions options);
  ~ClientFleet();
  ClientFleet(const ClientFleet&) = delete;
  ClientFleet& operator=(const ClientFleet&) = delete;

  // Starts the threads and begins connecting every client.
  void Start();
  // Clients whose connection finished one way or the other (first message, or failure).
  size_t settled() const;
  size_t connected() const;
  size_t total() const { return options_.ws_clients + options_.sse_clients; }

  // Events published at or after this unix time (ns) count as measured; earlier ones as warmup.
  void SetMeasureStart(int64_t unix_ns) { measure_start_ns_.store(unix_ns); }

  // True when every live client has seen offset >= targets[topic] on its topic.
  // `lagging` receives how many live clients have not yet.
  bool AllReached(const std::vector<uint64_t>& targets, size_t* lagging) const;

  // Reconnect storm. Drop() closes every connection at once with no close handshake (the clients
  // keep their position: epoch + last offset, or the SSE resume token) and returns when done.
  void Drop();
  // Reconnects every dropped client, as fast as connect_concurrency allows: WS clients open /ws
  // with no topic and send subscribe{recover, epoch, offset}; SSE clients reopen /sse?topic= with
  // Last-Event-ID. A client counts as recovered once its reply arrived and it has seen
  // targets[topic]. Returns the steady-clock start of the reconnect.
  std::chrono::steady_clock::time_point Reconnect(const std::vector<uint64_t>& targets);
  // Clients that recovered fully / whose reconnect finished one way or the other (recovered,
  // answered recovered=false, or failed).
  size_t recovered() const { return recovered_.load(); }
  size_t reconnect_finished() const { return reconnect_finished_.load(); }
  size_t reconnecting() const { return reconnecting_; }

  // Stops the threads, closes every socket and returns what the clients saw.
  FleetReport Stop();

 private:
  FleetOptions options_;
  std::atomic<int64_t> measure_start_ns_{INT64_MAX};
  std::atomic<size_t> settled_{0};
  std::atomic<size_t> connected_{0};
  std::atomic<size_t> recovered_{0};
  std::atomic<size_t> reconnect_finished_{0};
  size_t reconnecting_ = 0;
  std::vector<uint64_t> recover_targets_;
  std::chrono::steady_clock::time_point reconnect_start_;
  std::unique_ptr<boost::asio::ssl::context> tls_;  // Outlives the workers and their clients.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Client>> clients_;
  bool stopped_ = false;
};

}  // namespace herald::bench
