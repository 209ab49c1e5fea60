// TLS on the HTTP port (https://, wss://, SSE) and on the gRPC port (TLS and mutual TLS), with
// certificates made by `openssl` at test time, and certificate reload on SIGHUP.
#include <gtest/gtest.h>

#include <ctime>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A throwaway CA with server and client certificates, made with the openssl command.
class TestPki {
 public:
  TestPki() {
    char pattern[] = "/tmp/herald-tls-test-XXXXXX";
    dir_ = mkdtemp(pattern) ? pattern : "";
    ok_ = MakeCa("ca") && MakeCa("other-ca") &&
          MakeLeaf("server", "ca", "herald-one",
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth") &&
          MakeLeaf("server2", "ca", "herald-two",
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth") &&
          MakeLeaf("client", "ca", "orders-service", "extendedKeyUsage=clientAuth") &&
          MakeLeaf("stranger", "other-ca", "stranger", "extendedKeyUsage=clientAuth");
  }
  ~TestPki() { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

 private:
  bool Run(const std::string& command) {
    return std::system(absl::StrCat("cd ", dir_, " && ", command, " >/dev/null 2>&1").c_str()) == 0;
  }
  bool MakeCa(const std::string& name) {
    return Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                            " -keyout ", name, ".key -out ", name, ".crt -days 2 -subj /CN=", name));
  }
  bool MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& extensions) {
    std::ofstream(Path(name + ".ext")) << extensions << "\n";
    return Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                            " -keyout ", name, ".key -out ", name, ".csr -subj /CN=", cn)) &&
           Run(absl::StrCat("openssl x509 -req -in ", name, ".csr -CA ", ca, ".crt -CAkey ", ca,
                            ".key -CAcreateserial -days 2 -out ", name, ".crt -extfile ", name,
                            ".ext"));
  }

  std::string dir_;
  bool ok_ = false;
};

// A blocking TLS connection to the gateway's HTTP port that trusts only the test CA.
class TlsConnection {
 public:
  // With `tls12_ciphers`, the client speaks TLS 1.2 and offers only those suites; `preamble`
  // is written on the TCP connection before the handshake (a load balancer's PROXY header).
  TlsConnection(uint16_t port, const std::string& ca_file, const std::string& tls12_ciphers = "",
                const std::string& preamble = "")
      : context_(ssl::context::tls_client), stream_(io_, context_) {
    context_.load_verify_file(ca_file);
    context_.set_verify_mode(ssl::verify_peer);
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    if (!tls12_ciphers.empty()) {
      SSL_set_max_proto_version(stream_.native_handle(), TLS1_2_VERSION);
      SSL_set_cipher_list(stream_.native_handle(), tls12_ciphers.c_str());
    }
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // Blocking reads give up after 10 s rather than hang the test.
    timeval timeout{10, 0};
    setsockopt(beast::get_lowest_layer(stream_).socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO,
               &timeout, sizeof(timeout));
    if (!preamble.empty()) {
      asio::write(beast::get_lowest_layer(stream_).socket(), asio::buffer(preamble), error_);
      if (error_) return;
    }
    stream_.handshake(ssl::stream_base::client, error_);
  }

  bool ok() const { return !error_; }
  std::string error() const { return error_.message(); }
  boost::system::error_code error_code() const { return error_; }

  // The common name of the certificate the gateway presented.
  std::string PeerCommonName() {
    X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
    if (!cert) return "";
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name));
    X509_free(cert);
    return name;
  }

  http::response<http::string_body> Get(const std::string& target) {
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "localhost");
    http::write(stream_, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream_, buffer, response, error_);
    return response;
  }

  // Sends a request and reads the raw stream until `text` shows up (or the read times out).
  std::string ReadUntil(const std::string& request, const std::string& text) {
    asio::write(stream_, asio::buffer(request), error_);
    std::string received;
    char chunk[4096];
    while (!error_ && received.find(text) == std::string::npos) {
      size_t n = stream_.read_some(asio::buffer(chunk), error_);
      received.append(chunk, n);
    }
    return received;
  }

  ssl::stream<beast::tcp_stream>& stream() { return stream_; }

 private:
  asio::io_context io_;
  ssl::context context_;
  ssl::stream<beast::tcp_stream> stream_;
  beast::error_code error_;
};

// wss:// with a blocking Beast client.
class WssClient {
 public:
  WssClient(uint16_t port, const std::string& ca_file, const std::string& target)
      : connection_(port, ca_file), ws_(connection_.stream()) {
    if (!connection_.ok()) return;
    ws_.binary(true);
    ws_.handshake("localhost", target, error_);
  }
  bool ok() const { return connection_.ok() && !error_; }

  void Write(const herald::v1::ClientMessage& message) {
    ws_.write(asio::buffer(message.SerializeAsString()), error_);
  }

  herald::v1::ServerMessage Read() {
    beast::flat_buffer buffer;
    herald::v1::ServerMessage message;
    ws_.read(buffer, error_);
    if (!error_) message.ParseFromString(beast::buffers_to_string(buffer.data()));
    return message;
  }

 private:
  TlsConnection connection_;
  beast::websocket::stream<ssl::stream<beast::tcp_stream>&> ws_;
  beast::error_code error_;
};

std::shared_ptr<grpc::Channel> TlsChannel(uint16_t port, const TestPki& pki,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(pki.Path("ca.crt"));
  if (!client.empty()) {
    options.pem_private_key = ReadFile(pki.Path(client + ".key"));
    options.pem_cert_chain = ReadFile(pki.Path(client + ".crt"));
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(options),
                                   args);
}

grpc::Status PublishOn(const std::shared_ptr<grpc::Channel>& channel, const std::string& topic) {
  auto stub = herald::v1::Publisher::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::PublishRequest request = GatewayTest::Request(topic, "over tls");
  herald::v1::PublishResponse response;
  return stub->Publish(&context, request, &response);
}

class TlsTest : public GatewayTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    std::system(absl::StrCat("cp ", pki_.Path("server.crt"), " ", pki_.Path("live.crt"), " && cp ",
                             pki_.Path("server.key"), " ", pki_.Path("live.key"))
                    .c_str());
  }

  TestPki pki_;
};

TEST_F(TlsTest, HttpsWssAndSseShareThePortAndPlainHttpIsToldToUseTls) {
  // Both ports take the same certificate.
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key")});
  std::shared_ptr<grpc::Channel> grpc_tls = TlsChannel(gateway_->grpc_port(), pki_);

  TlsConnection https(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(https.ok()) << https.error();
  EXPECT_EQ(https.PeerCommonName(), "herald-one");
  EXPECT_EQ(https.Get("/healthz").result_int(), 200);

  std::string plain = RawExchange(http_port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(plain.find("400"), std::string::npos) << plain;
  EXPECT_NE(plain.find("speaks TLS"), std::string::npos) << plain;

  WssClient wss(http_port(), pki_.Path("ca.crt"), "/ws?topic=secure.news");
  ASSERT_TRUE(wss.ok());
  EXPECT_TRUE(wss.Read().has_connected());

  TlsConnection sse(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(sse.ok());
  std::string head = sse.ReadUntil(
      "GET /sse?topic=secure.news HTTP/1.1\r\nHost: localhost\r\n\r\n", "herald.connected");
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;

  ASSERT_TRUE(PublishOn(grpc_tls, "secure.news").ok());
  herald::v1::ServerMessage event = wss.Read();
  ASSERT_EQ(event.events_size(), 1);
  EXPECT_EQ(event.events(0).data(), "over tls");
  EXPECT_NE(sse.ReadUntil("", "over tls").find("over tls"), std::string::npos);

  // A plain gRPC client cannot talk to the TLS gRPC port, and the log says what to do.
  EXPECT_FALSE(Publish(Request("secure.news", "plain")).ok());
  EXPECT_TRUE(gateway_->WaitForLogLine("a client spoke plaintext to the gRPC port", kWait));
}

// Behind a TCP load balancer that sends a PROXY header, TLS starts after the header: the client
// it names is who connected, and the handshake is the client's as it sent it.
TEST_F(TlsTest, APROXYHeaderBeforeTheHandshakeNamesTheClient) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key"), "--trusted_proxies=127.0.0.1",
                "--proxy_protocol", "--max_connections_per_ip=1"});
  TlsConnection first(http_port(), pki_.Path("ca.crt"), "",
                      "PROXY TCP4 203.0.113.5 127.0.0.1 5000 443\r\n");
  ASSERT_TRUE(first.ok()) << first.error();
  std::string stream = first.ReadUntil(
      "GET /sse?topic=lb.news HTTP/1.1\r\nHost: localhost\r\n\r\n", "herald.connected");
  EXPECT_NE(stream.find("herald.connected"), std::string::npos) << stream;
  // The same client through the balancer again: its address holds its one connection.
  TlsConnection again(http_port(), pki_.Path("ca.crt"), "",
                      "PROXY TCP4 203.0.113.5 127.0.0.1 5001 443\r\n");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again.Get("/sse?topic=lb.news").result_int(), 429);
  // Without the header the balancer's connection is closed before any handshake.
  TlsConnection bare(http_port(), pki_.Path("ca.crt"));
  EXPECT_FALSE(bare.ok());
}

// TLS on the HTTP port need not mean TLS on the gRPC port: --grpc_tls=off keeps gRPC plaintext
// (a private network), and --grpc_tls=on refuses to start without a certificate.
TEST_F(TlsTest, GrpcTlsIsChosenApartFromTheHttpPorts) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key"), "--grpc_tls=off"});
  EXPECT_TRUE(Publish(Request("plain.grpc", "x")).ok());
  TlsConnection https(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(https.ok()) << https.error();
  EXPECT_EQ(https.Get("/healthz").result_int(), 200);

  GatewayOptions options;
  options.args = {"--grpc_tls=on"};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> refused = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->WaitForExit(kWait), std::optional<int>(2));
  EXPECT_TRUE(refused->WaitForLogLine("--grpc_tls=on needs a certificate", kWait));
}

// An SSE stream the gateway ends (here by its drain) ends with close_notify: a client can tell
// it from a stream cut short (asio reports the first as eof, the second as stream_truncated).
TEST_F(TlsTest, AnSseStreamTheGatewayEndsEndsWithCloseNotify) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key")});
  TlsConnection sse(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(sse.ok()) << sse.error();
  sse.ReadUntil("GET /sse?topic=secure.end HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "herald.connected");
  ASSERT_TRUE(sse.ok()) << sse.error();
  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));
  std::string rest = sse.ReadUntil("", "text that never comes");
  EXPECT_NE(rest.find("herald.disconnect"), std::string::npos) << rest;
  EXPECT_EQ(sse.error_code(), asio::error::eof) << sse.error();
}

TEST_F(TlsTest, MessagesLargerThanARecordCrossIntactBothWays) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key")});
  WssClient wss(http_port(), pki_.Path("ca.crt"), "/ws?topic=big.tls");
  ASSERT_TRUE(wss.ok());
  ASSERT_TRUE(wss.Read().has_connected());
  TlsConnection sse(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(sse.ok());
  sse.ReadUntil("GET /sse?topic=big.tls HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "herald.connected");

  // 50 KB: several TLS records from the client, and several to each subscriber.
  std::string data(50000, 'x');
  for (size_t i = 0; i < data.size(); i += 1000) data[i] = static_cast<char>('a' + i / 1000 % 26);
  data += "end-of-big";
  herald::v1::ClientMessage publish;
  publish.set_id(7);
  publish.mutable_publish()->set_topic("big.tls");
  publish.mutable_publish()->set_data(data);
  wss.Write(publish);

  std::optional<herald::v1::Reply> reply;
  std::optional<herald::v1::Event> event;
  for (int i = 0; i < 4 && (!reply || !event); ++i) {
    herald::v1::ServerMessage message = wss.Read();
    if (message.replies_size() > 0) reply = message.replies(0);
    if (message.events_size() > 0) event = message.events(0);
  }
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->id(), 7u);
  EXPECT_EQ(reply->published().offset(), 1u);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data(), data);
  std::string stream = sse.ReadUntil("", "end-of-big");
  EXPECT_NE(stream.find(data), std::string::npos);
}

TEST_F(TlsTest, ATlsClientThatGoesSilentIsClosedAfterTheHandshakeTimeout) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key"), "--handshake_timeout=500ms"});
  // The start of a ClientHello, then nothing: the gateway ends the connection rather than wait
  // (RawExchange returns when the server closes, or after 10 s).
  auto start = std::chrono::steady_clock::now();
  std::string partial_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  RawExchange(http_port(), partial_hello, std::chrono::seconds(10));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // A finished handshake and no request: the same.
  TlsConnection silent(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(silent.ok()) << silent.error();
  char byte;
  beast::error_code error;
  silent.stream().read_some(asio::buffer(&byte, 1), error);
  EXPECT_TRUE(error == asio::error::eof || error == asio::ssl::error::stream_truncated ||
              error == asio::error::connection_reset)
      << error.message();

  // A client within the timeout is served.
  TlsConnection prompt(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(prompt.ok()) << prompt.error();
  EXPECT_EQ(prompt.Get("/healthz").result_int(), 200);
  // The unfinished handshake is counted; the certificate's expiry is shown (the test
  // certificates last two days).
  std::string metrics = prompt.Get("/metrics").body();
  EXPECT_TRUE(absl::StrContains(metrics, "herald_tls_handshake_failures_total 1\n")) << metrics;
  size_t expiry = metrics.find("\nherald_tls_certificate_expiry_timestamp_seconds ");
  ASSERT_NE(expiry, std::string::npos) << metrics;
  double expires = std::stod(metrics.substr(metrics.find(' ', expiry + 1) + 1));
  EXPECT_GT(expires, static_cast<double>(std::time(nullptr)) + 86400) << metrics;
}

TEST_F(TlsTest, SighupSwapsTheCertificateWithoutDroppingLiveConnections) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key"),
                "--grpc_tls_cert_file=" + pki_.Path("server.crt"),
                "--grpc_tls_key_file=" + pki_.Path("server.key")});
  WssClient live(http_port(), pki_.Path("ca.crt"), "/ws?topic=rotation");
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(live.Read().has_connected());

  std::system(absl::StrCat("cp ", pki_.Path("server2.crt"), " ", pki_.Path("live.crt"), " && cp ",
                           pki_.Path("server2.key"), " ", pki_.Path("live.key"))
                  .c_str());
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: TLS certificate", kWait));

  TlsConnection fresh(http_port(), pki_.Path("ca.crt"));
  ASSERT_TRUE(fresh.ok()) << fresh.error();
  EXPECT_EQ(fresh.PeerCommonName(), "herald-two");

  ASSERT_TRUE(PublishOn(TlsChannel(gateway_->grpc_port(), pki_), "rotation").ok());
  herald::v1::ServerMessage event = live.Read();
  ASSERT_EQ(event.events_size(), 1);
  EXPECT_EQ(event.events(0).topic(), "rotation");
}

TEST_F(TlsTest, MutualTlsOnGrpcNeedsAClientCertificateFromTheConfiguredCa) {
  StartGateway({"--grpc_tls_cert_file=" + pki_.Path("server.crt"),
                "--grpc_tls_key_file=" + pki_.Path("server.key"),
                "--grpc_client_ca_file=" + pki_.Path("ca.crt")});
  EXPECT_TRUE(PublishOn(TlsChannel(gateway_->grpc_port(), pki_, "client"), "orders.new").ok());
  EXPECT_EQ(PublishOn(TlsChannel(gateway_->grpc_port(), pki_), "orders.new").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(PublishOn(TlsChannel(gateway_->grpc_port(), pki_, "stranger"), "orders.new").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Publish(Request("orders.new", "plain")).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The HTTP port stays plain.
  EXPECT_EQ(Fetch(http_port(), "GET", "/healthz").status, 200);

  // herald-publish with its client certificate, and without.
  std::string cli = absl::StrCat(BinaryPath("herald-publish"), " --target=", gateway_->grpc_target(),
                                 " --tls_ca_file=", pki_.Path("ca.crt"),
                                 " --tls_server_name=localhost --timeout=3s --topic=orders.cli",
                                 " --data=x >/dev/null 2>&1");
  EXPECT_EQ(std::system(absl::StrCat(cli, " --tls_cert_file=", pki_.Path("client.crt"),
                                     " --tls_key_file=", pki_.Path("client.key"))
                            .c_str()),
            0);
  EXPECT_NE(std::system(cli.c_str()), 0);
}

// TLS 1.2 clients get forward-secret AEAD suites only: no CBC, no static RSA key exchange.
TEST_F(TlsTest, OnlyForwardSecretAeadSuitesAreOfferedOverTls12) {
  StartGateway({"--tls_cert_file=" + pki_.Path("live.crt"),
                "--tls_key_file=" + pki_.Path("live.key")});
  for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                            "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    TlsConnection good(http_port(), pki_.Path("ca.crt"), suite);
    EXPECT_TRUE(good.ok()) << suite << ": " << good.error();
  }
  for (const char* suite : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                            "ECDHE-ECDSA-AES128-SHA256"}) {
    TlsConnection weak(http_port(), pki_.Path("ca.crt"), suite);
    EXPECT_FALSE(weak.ok()) << suite;
  }
  TlsConnection tls13(http_port(), pki_.Path("ca.crt"));
  EXPECT_TRUE(tls13.ok()) << tls13.error();
}

TEST_F(TlsTest, AKeyThatDoesNotMatchItsCertificateStopsTheStart) {
  GatewayOptions options;
  options.args = {"--tls_cert_file=" + pki_.Path("server.crt"),
                  "--tls_key_file=" + pki_.Path("client.key")};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->WaitForExit(kWait), std::optional<int>(1));
  EXPECT_TRUE(gateway->WaitForLogLine("TLS key", kWait));
}

}  // namespace
}  // namespace herald::testing
