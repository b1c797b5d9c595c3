// Choosing a backend by name: the one place a device and its options become a Backend.
#include "stride/core/backend.h"

#include "stride/common/error.h"

namespace stride {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "tf32") return Precision::tf32;
  if (name == "bf16") return Precision::bf16;
  fail<ConfigError>("train.precision: expected fp32, tf32 or bf16, got '{}'", name);
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  fail<ConfigError>("train.device: expected cpu or cuda, got '{}'", name);
}

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& options) {
  if (device == Device::cuda) {
    if (!cuda_available()) fail<ConfigError>("device cuda: no CUDA GPU is visible to this process");
    return make_cuda_backend(options);
  }
  if (options.precision != Precision::fp32)
    fail<ConfigError>("train.precision = {}: the CPU backend computes in fp32 only", precision_name(options.precision));
  return make_cpu_backend(options.threads);
}

}  // namespace stride
