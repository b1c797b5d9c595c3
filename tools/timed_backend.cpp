// TimedBackend: forwarding with a stopwatch around each call.
#include "timed_backend.h"

#include <cstring>

namespace stride::tools {

namespace {

// Multiply-adds count two: 2 * outputs * (kernel window * input channels).
double conv_flops(const ConvParams& p, const Shape& x, const Shape& y) {
  return 2.0 * static_cast<double>(y.elements()) * static_cast<double>(p.kernel_h * p.kernel_w * x[3]);
}

double dense_flops(const Shape& x, const Shape& w) {
  return 2.0 * static_cast<double>(x[0]) * static_cast<double>(w[0]) * static_cast<double>(w[1]);
}

}  // namespace

template <typename F>
void TimedBackend::timed(const char* op, std::initializer_list<const Tensor*> tensors, double flops, F&& f) {
  if (!recording_) {
    f();
    return;
  }
  inner_.synchronize();
  const auto start = std::chrono::steady_clock::now();
  f();
  inner_.synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  OpKey key;
  key.add(reinterpret_cast<intptr_t>(op));
  double bytes = 0;
  for (const Tensor* t : tensors) {
    if (t == nullptr || !t->defined()) continue;
    key.add(t->shape());
    bytes += static_cast<double>(t->bytes());
  }
  auto [it, inserted] = index_.try_emplace(key, entries_.size());
  if (inserted) {
    OpTiming entry;
    entry.op = op;
    for (const Tensor* t : tensors) {
      if (t == nullptr || !t->defined()) continue;
      if (!entry.shapes.empty()) entry.shapes += ' ';
      entry.shapes += t->shape().str();
    }
    entry.flops = flops;
    entry.bytes = bytes;
    entries_.push_back(std::move(entry));
  }
  OpTiming& entry = entries_[it->second];
  ++entry.calls;
  entry.seconds += seconds;
}

std::vector<OpTiming> TimedBackend::timings() const { return entries_; }

void TimedBackend::copy_from_host(const void* source, Tensor& destination) {
  timed("copy_from_host", {&destination}, 0, [&] { inner_.copy_from_host(source, destination); });
}
void TimedBackend::copy_from_host_async(const void* source, Tensor& destination) {
  timed("copy_from_host_async", {&destination}, 0, [&] { inner_.copy_from_host_async(source, destination); });
}
void TimedBackend::copy_to_host(const Tensor& source, void* destination) {
  timed("copy_to_host", {&source}, 0, [&] { inner_.copy_to_host(source, destination); });
}
void TimedBackend::copy(const Tensor& source, Tensor& destination) {
  timed("copy", {&source, &destination}, 0, [&] { inner_.copy(source, destination); });
}
void TimedBackend::fill(Tensor& tensor, float value) {
  timed("fill", {&tensor}, 0, [&] { inner_.fill(tensor, value); });
}

void TimedBackend::conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                                const Epilogue& epilogue) {
  const char* op = epilogue.activate ? "conv_forward+act" : "conv_forward";
  timed(op, {&x, &w, &y, epilogue.residual}, conv_flops(p, x.shape(), y.shape()),
        [&] { inner_.conv_forward(p, x, w, y, epilogue); });
}
void TimedBackend::conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  timed("conv_backward_data", {&dy, &w, &dx}, conv_flops(p, dx.shape(), dy.shape()),
        [&] { inner_.conv_backward_data(p, dy, w, dx, beta); });
}
void TimedBackend::conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                         Tensor& dbias, float beta) {
  timed("conv_backward_weights", {&x, &dy, &dw}, conv_flops(p, x.shape(), dy.shape()),
        [&] { inner_.conv_backward_weights(p, x, dy, dw, dbias, beta); });
}
void TimedBackend::pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) {
  timed("pool_forward", {&x, &y}, 0, [&] { inner_.pool_forward(p, x, y, workspace); });
}
void TimedBackend::pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                 const Tensor& workspace, Tensor& dx) {
  timed("pool_backward", {&dy, &dx}, 0, [&] { inner_.pool_backward(p, x, y, dy, workspace, dx); });
}
void TimedBackend::activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) {
  timed("activation_forward", {&x, &y}, 0, [&] { inner_.activation_forward(p, x, y); });
}
void TimedBackend::activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                       Tensor& dx) {
  timed("activation_backward", {x.defined() ? &x : &y, &dy, &dx}, 0,
        [&] { inner_.activation_backward(p, x, y, dy, dx); });
}
void TimedBackend::batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                              Tensor& running_mean, Tensor& running_var, Tensor& reserve) {
  timed(p.fuse_relu ? "batchnorm_forward_training+relu" : "batchnorm_forward_training", {&x, &y}, 0, [&] {
    inner_.batchnorm_forward_training(p, x, gamma, beta, y, saved_mean, saved_var, running_mean, running_var, reserve);
  });
}
void TimedBackend::batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, const Tensor& running_mean,
                                               const Tensor& running_var, Tensor& y) {
  timed("batchnorm_forward_inference", {&x, &y}, 0,
        [&] { inner_.batchnorm_forward_inference(p, x, gamma, beta, running_mean, running_var, y); });
}
void TimedBackend::batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                      const Tensor& saved_mean, const Tensor& saved_var, const Tensor& reserve,
                                      Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  timed(p.fuse_relu ? "batchnorm_backward+relu" : "batchnorm_backward", {&x, &dy, &dx}, 0, [&] {
    inner_.batchnorm_backward(p, x, dy, gamma, saved_mean, saved_var, reserve, dx, dgamma, dbeta);
  });
}
void TimedBackend::batchnorm_backward_inference(const BatchNormParams& p, const Tensor& dy, const Tensor& gamma,
                                                const Tensor& running_var, Tensor& dx) {
  timed("batchnorm_backward_inference", {&dy, &dx}, 0,
        [&] { inner_.batchnorm_backward_inference(p, dy, gamma, running_var, dx); });
}
void TimedBackend::batchnorm_backward_inference_parameters(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                           const Tensor& running_mean, const Tensor& running_var,
                                                           Tensor& dgamma, Tensor& dbeta) {
  timed("batchnorm_backward_inference_parameters", {&x, &dy}, 0, [&] {
    inner_.batchnorm_backward_inference_parameters(p, x, dy, running_mean, running_var, dgamma, dbeta);
  });
}
void TimedBackend::batchnorm_partial_sums(const Tensor& x, const Tensor& shift, Tensor& sums) {
  timed("batchnorm_partial_sums", {&x}, 0, [&] { inner_.batchnorm_partial_sums(x, shift, sums); });
}
void TimedBackend::batchnorm_mean_from_sums(const Tensor& sums, const Tensor& shift, Tensor& mean) {
  timed("batchnorm_mean_from_sums", {&sums}, 0, [&] { inner_.batchnorm_mean_from_sums(sums, shift, mean); });
}
void TimedBackend::batchnorm_statistics_from_sums(const BatchNormParams& p, const Tensor& sums, const Tensor& shift,
                                                  Tensor& mean, Tensor& var, Tensor& running_mean,
                                                  Tensor& running_var) {
  timed("batchnorm_statistics_from_sums", {&sums}, 0,
        [&] { inner_.batchnorm_statistics_from_sums(p, sums, shift, mean, var, running_mean, running_var); });
}
void TimedBackend::batchnorm_backward_partial_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                   const Tensor& mean, const Tensor& var, Tensor& sums) {
  timed("batchnorm_backward_partial_sums", {&x, &dy}, 0,
        [&] { inner_.batchnorm_backward_partial_sums(p, x, dy, mean, var, sums); });
}
void TimedBackend::batchnorm_backward_from_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                const Tensor& gamma, const Tensor& mean, const Tensor& var,
                                                const Tensor& sums, Tensor& dx) {
  timed("batchnorm_backward_from_sums", {&x, &dy, &dx}, 0,
        [&] { inner_.batchnorm_backward_from_sums(p, x, dy, gamma, mean, var, sums, dx); });
}
void TimedBackend::dense_forward(const Tensor& x, const Tensor& w, Tensor& y, const Epilogue& epilogue) {
  timed(epilogue.activate ? "dense_forward+act" : "dense_forward", {&x, &w, &y}, dense_flops(x.shape(), w.shape()),
        [&] { inner_.dense_forward(x, w, y, epilogue); });
}
void TimedBackend::dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, float beta) {
  timed("dense_backward_data", {&dy, &w, &dx}, dense_flops(dx.shape(), w.shape()),
        [&] { inner_.dense_backward_data(dy, w, dx, beta); });
}
void TimedBackend::dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias, float beta) {
  timed("dense_backward_weights", {&x, &dy, &dw}, dense_flops(x.shape(), dw.shape()),
        [&] { inner_.dense_backward_weights(x, dy, dw, dbias, beta); });
}
void TimedBackend::softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing,
                                         float grad_scale, Tensor& probabilities, Tensor& losses, Tensor& dlogits) {
  timed("softmax_cross_entropy", {&logits}, 0, [&] {
    inner_.softmax_cross_entropy(logits, labels, label_smoothing, grad_scale, probabilities, losses, dlogits);
  });
}
void TimedBackend::accumulate_classification(const Tensor& logits, const Tensor& labels, const Tensor& losses,
                                             Tensor& totals, Tensor& confusion) {
  timed("accumulate_classification", {&logits}, 0,
        [&] { inner_.accumulate_classification(logits, labels, losses, totals, confusion); });
}
void TimedBackend::dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                                   Tensor& mask) {
  timed("dropout_forward", {&x, &y, &mask}, 0, [&] { inner_.dropout_forward(rate, key, element_offset, x, y, mask); });
}
void TimedBackend::multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  timed("multiply", {&a, &b, &out}, 0, [&] { inner_.multiply(a, b, out); });
}
void TimedBackend::add(const Tensor& a, const Tensor& b, Tensor& out, const ActivationParams* activation) {
  timed(activation != nullptr ? "add+act" : "add", {&a, &b, &out}, 0, [&] { inner_.add(a, b, out, activation); });
}
void TimedBackend::scale(Tensor& x, float alpha) {
  timed("scale", {&x}, 0, [&] { inner_.scale(x, alpha); });
}
void TimedBackend::argmax_rows(const Tensor& x, Tensor& out) {
  timed("argmax_rows", {&x}, 0, [&] { inner_.argmax_rows(x, out); });
}
void TimedBackend::adam_update(const AdamParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                               Tensor& m, Tensor& v) {
  timed("adam_update", {&w, &g, &m, &v}, 0, [&] { inner_.adam_update(p, segments, w, g, m, v); });
}
void TimedBackend::sgd_update(const SgdParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                              Tensor& velocity) {
  timed("sgd_update", {&w, &g}, 0, [&] { inner_.sgd_update(p, segments, w, g, velocity); });
}
void TimedBackend::clip_by_global_norm(std::span<const ArenaSegment> segments, Tensor& g, float max_norm,
                                       Tensor& norm) {
  timed("clip_by_global_norm", {&g}, 0, [&] { inner_.clip_by_global_norm(segments, g, max_norm, norm); });
}

}  // namespace stride::tools
