// The finite-difference gradient checker. A layer's scalar objective is
// f = sum(y * probe) for a fixed random probe, so backward with dy = probe must
// give df/dx and df/dparam; both are checked element by element against central
// differences (f(v + h) - f(v - h)) / 2h, accumulated in double. The layer's
// last forward before backward is at the unperturbed point, as training runs it.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "stride/core/layer.h"
#include "tensor_utils.h"

namespace stride::testing {

// |actual - expected| <= atol + rtol * |expected| everywhere; lists the first misses.
template <typename Expected>
::testing::AssertionResult all_close(const Values& actual, const std::vector<Expected>& expected, double rtol,
                                     double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  int misses = 0;
  double worst = 0;
  std::string detail;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double e = static_cast<double>(expected[i]);
    const double diff = std::abs(static_cast<double>(actual[i]) - e);
    if (!(diff <= atol + rtol * std::abs(e))) {  // NaN fails too
      if (misses < 5) detail += fmt::format("\n  [{}] actual {:.7g} expected {:.7g}", i, actual[i], e);
      ++misses;
      worst = std::max(worst, diff);
    }
  }
  if (misses == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << misses << " of " << actual.size() << " elements differ (worst by " << worst
                                       << ", rtol " << rtol << ", atol " << atol << "):" << detail;
}

// Central differences of f with respect to every element of t (restored after).
inline std::vector<double> numeric_gradient(Backend& backend, Tensor& t, const std::function<double()>& f,
                                            double step) {
  Values values = read(backend, t);
  std::vector<double> grad(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const float original = values[i];
    values[i] = original + static_cast<float>(step);
    write(backend, t, values);
    const double plus = f();
    values[i] = original - static_cast<float>(step);
    write(backend, t, values);
    const double minus = f();
    values[i] = original;
    // The float-rounded step actually taken.
    const double taken = (static_cast<double>(original + static_cast<float>(step)) -
                          static_cast<double>(original - static_cast<float>(step)));
    grad[i] = (plus - minus) / taken;
  }
  write(backend, t, values);
  return grad;
}

// Analytic gradients against finite differences: tolerance scales with the
// largest gradient, since the difference quotient's error is absolute.
inline ::testing::AssertionResult matches_finite_differences(const Values& analytic, const std::vector<double>& numeric,
                                                             double rtol) {
  double scale = 0;
  for (double v : numeric) scale = std::max(scale, std::abs(v));
  return all_close(analytic, numeric, rtol, rtol * std::max(scale, 1e-2) * 0.1 + 1e-5);
}

// Builds a layer for `sample`, initialises its parameters from `seed` and
// reserves scratch for `batch` samples.
inline void prepare_layer(Backend& backend, Layer& layer, const Shape& sample, int64_t batch, uint64_t seed = 1) {
  layer.build(sample);
  Rng rng(seed, /*stream=*/5);
  layer.init_parameters(backend, rng);
  layer.reserve(backend, batch);
}

inline Parameter& parameter_named(Layer& layer, const std::string& name) {
  for (Parameter* p : layer.parameters())
    if (p->name == name) return *p;
  throw std::runtime_error("no parameter " + name + " in " + layer.spec());
}

inline Buffer& buffer_named(Layer& layer, const std::string& name) {
  for (Buffer* b : layer.buffers())
    if (b->name == name) return *b;
  throw std::runtime_error("no buffer " + name + " in " + layer.spec());
}

// Gives every parameter random values (biases and BN shifts too, so they matter).
inline void randomise_parameters(Backend& backend, Layer& layer, uint64_t seed) {
  for (Parameter* p : layer.parameters()) {
    const bool scale = p->name.ends_with("gamma");
    write(backend, p->value, random_values(p->value.elements(), seed++, scale ? 0.5f : -0.5f, scale ? 1.5f : 0.5f));
  }
}

struct GradientCheck {
  double step = 1e-2;
  double rtol = 1e-2;
  bool check_input = true;
  bool check_parameters = true;
};

// Checks a built, initialised and reserved layer at input x ([batch, sample...]).
inline void check_layer_gradients(Backend& backend, Layer& layer, Context& ctx, const Values& x_values, int64_t batch,
                                  const GradientCheck& options = {}) {
  Tensor x = make_tensor(backend, layer.input_shape().with_batch(batch), x_values);
  Tensor y(backend, layer.output_shape().with_batch(batch));
  Tensor dx(backend, x.shape());
  const Values probe_values = random_values(y.elements(), /*seed=*/4242, -1.0f, 1.0f);
  const Tensor probe = make_tensor(backend, y.shape(), probe_values);
  auto objective = [&] {
    layer.forward(ctx, x, y);
    return dot(read(backend, y), probe_values);
  };

  objective();
  Tensor input_grad = options.check_input ? dx : Tensor();
  layer.backward(ctx, x, y, probe, input_grad);

  // Read every analytic gradient before the differences re-run forward.
  const Values analytic_input = options.check_input ? read(backend, dx) : Values();
  std::vector<Values> analytic;
  for (Parameter* p : layer.parameters()) analytic.push_back(p->trainable ? read(backend, p->grad) : Values());

  if (options.check_input) {
    EXPECT_TRUE(
        matches_finite_differences(analytic_input, numeric_gradient(backend, x, objective, options.step), options.rtol))
        << layer.spec() << ": input gradient";
  }
  if (!options.check_parameters) return;
  size_t i = 0;
  for (Parameter* p : layer.parameters()) {
    const Values& a = analytic[i++];
    if (!p->trainable) continue;
    EXPECT_TRUE(
        matches_finite_differences(a, numeric_gradient(backend, p->value, objective, options.step), options.rtol))
        << layer.spec() << ": gradient of " << p->name;
  }
}

}  // namespace stride::testing
