// Fetch and RawExchange: Beast/Asio clients on a private io_context bounded by run_for.
#include "support/http_request.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <memory>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace herald::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

HttpResponse Fetch(std::uint16_t port, std::string method, std::string target, std::string body,
                   std::vector<std::pair<std::string, std::string>> headers,
                   std::chrono::milliseconds timeout) {
  HttpResponse result;
  asio::io_context context{1};
  beast::tcp_stream stream(context);
  beast::flat_buffer buffer;

  http::request<http::string_body> request;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    request.method_string(method);
  } else {
    request.method(verb);
  }
  request.target(target);
  request.version(11);
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::user_agent, "herald-test-http");
  request.set(http::field::connection, "close");
  const bool has_body = !body.empty() || verb == http::verb::post || verb == http::verb::put ||
                        verb == http::verb::patch;
  request.body() = std::move(body);
  if (has_body) request.prepare_payload();
  for (const auto& [name, value] : headers) request.set(name, value);

  http::response_parser<http::string_body> parser;
  parser.header_limit(1024 * 1024);
  parser.body_limit(std::uint64_t{1} << 30);
  if (verb == http::verb::head) parser.skip(true);  // the answer to HEAD has no body

  bool done = false;
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  stream.expires_after(timeout);
  stream.async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) {
      result.error = "connect: " + ec.message();
      done = true;
      return;
    }
    http::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
      // A server may answer and close before reading the whole request: still read the answer.
      if (ec && ec != asio::error::broken_pipe && ec != asio::error::connection_reset) {
        result.error = "write: " + ec.message();
        done = true;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
        done = true;
        if (ec) {
          result.error = "read: " + ec.message();
          return;
        }
        const auto& response = parser.get();
        result.status = response.result_int();
        for (const auto& field : response) {
          result.headers.emplace_back(std::string(field.name_string()),
                                      std::string(field.value()));
        }
        result.body = response.body();
      });
    });
  });
  context.run_for(timeout + std::chrono::seconds(1));
  if (!done) result.error = "timed out";
  return result;
}

std::string RawExchange(std::uint16_t port, std::string raw_request,
                        std::chrono::milliseconds timeout) {
  asio::io_context context{1};
  tcp::socket socket(context);
  std::string received;
  std::array<char, 16 * 1024> chunk;

  std::function<void()> read_more;  // declared first: the handler below reads again
  read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec,
                                                    std::size_t bytes) {
      received.append(chunk.data(), bytes);
      if (ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
      }
      read_more();
    });
  };

  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  socket.async_connect(endpoint, [&](boost::system::error_code ec) {
    if (ec) return;
    read_more();
    asio::async_write(socket, asio::buffer(raw_request),
                      [](boost::system::error_code, std::size_t) {});
  });
  context.run_for(timeout);
  return received;
}

int SendAndNeverRead(std::uint16_t port, std::string_view raw_request, const char* from) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in source{};
  source.sin_family = AF_INET;
  if (::inet_pton(AF_INET, from, &source.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::send(fd, raw_request.data(), raw_request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(raw_request.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace herald::testing
