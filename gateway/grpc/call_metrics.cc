// The gRPC call counter.
#include "grpc/call_metrics.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

class CallMetrics final : public grpc::experimental::Interceptor {
 public:
  CallMetrics(Metrics& metrics, const char* method)
      : metrics_(metrics), method_(metrics.GrpcMethodIndex(method == nullptr ? "" : method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_.GrpcCallEnded(method_, methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  Metrics& metrics_;
  const size_t method_;
};

class CallMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallMetricsFactory(Metrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallMetrics(metrics_, info->method());
  }

 private:
  Metrics& metrics_;
};

}  // namespace

std::vector<std::string> ServedGrpcMethods() {
  std::vector<std::string> methods;
  for (const char* service : {"herald.v1.Publisher", "herald.v1.Subscriber", "herald.v1.Admin"}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    if (descriptor == nullptr) continue;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      methods.push_back(absl::StrCat("/", service, "/", descriptor->method(i)->name()));
    }
  }
  for (const char* method : {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
                             "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}) {
    methods.push_back(method);
  }
  return methods;
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
CallMetricsInterceptors(Metrics& metrics) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<CallMetricsFactory>(metrics));
  return creators;
}

}  // namespace herald
