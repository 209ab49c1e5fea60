// Counts every gRPC call the server ends, by method and status (herald_grpc_calls_total).
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "metrics/metrics.h"

namespace herald {

// The methods the gateway serves, as gRPC names them ("/herald.v1.Publisher/Publish"): its own
// services', health checking's and reflection's (for Metrics::SetGrpcMethods).
std::vector<std::string> ServedGrpcMethods();

// What ServerBuilder::experimental().SetInterceptorCreators takes: one interceptor per call,
// which counts the status the call ends with. `metrics` must outlive the server.
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
CallMetricsInterceptors(Metrics& metrics);

}  // namespace herald
