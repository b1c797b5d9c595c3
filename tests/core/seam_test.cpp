// The fusion and arena parts of the backend seam, on every backend against
// the naive kernels: convolution and dense epilogues (bias, residual,
// activation), beta accumulation on backward ops, the fused addition,
// activation backward from the output alone, batch norm with a fused ReLU
// and its reserve, device-side classification totals, the optimizers over
// arena segments, and events around asynchronous copies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "gradient_check.h"
#include "naive_ops.h"

namespace stride::testing {
namespace {

class SeamTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(SeamTest);

const ActivationParams kActivations[] = {
    {ActivationKind::relu, 0.0f}, {ActivationKind::leaky_relu, 0.1f}, {ActivationKind::elu, 1.0f}};

std::string describe(const ActivationParams& a) {
  return a.kind == ActivationKind::relu ? "relu" : a.kind == ActivationKind::elu ? "elu" : "leaky_relu";
}

TEST_P(SeamTest, ConvolutionEpilogueIsBiasResidualThenActivation) {
  ConvParams p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  p.pad_top = p.pad_left = 0;
  p.pad_bottom = p.pad_right = 1;  // asymmetric, as "same" with stride 2 on an even size
  const Shape xs{2, 6, 6, 3}, ws{3, 3, 3, 5}, ys{2, 3, 3, 5};
  const Values x = random_values(xs.elements(), 1), w = random_values(ws.elements(), 2),
               bias = random_values(5, 3), residual = random_values(ys.elements(), 4);
  Tensor tx = make_tensor(backend(), xs, x), tw = make_tensor(backend(), ws, w), tb = make_tensor(backend(), {5}, bias),
         tr = make_tensor(backend(), ys, residual), y(backend(), ys);
  const Values plain = naive::conv_forward(p, xs, x, ws, w, bias);
  for (const ActivationParams& a : kActivations) {
    SCOPED_TRACE(describe(a));
    Epilogue e;
    e.bias = &tb;
    e.residual = &tr;
    e.activate = true;
    e.activation = a;
    backend().conv_forward(p, tx, tw, y, e);
    EXPECT_TRUE(all_close(read(backend(), y), naive::activation_forward(a, naive::add(plain, residual)), 1e-4, 1e-5));
  }
  Epilogue bias_only;
  bias_only.bias = &tb;
  backend().conv_forward(p, tx, tw, y, bias_only);
  EXPECT_TRUE(all_close(read(backend(), y), plain, 1e-4, 1e-5));
  backend().conv_forward(p, tx, tw, y);
  EXPECT_TRUE(all_close(read(backend(), y), naive::conv_forward(p, xs, x, ws, w, {}), 1e-4, 1e-5));
}

TEST_P(SeamTest, DenseEpilogueAndResidual) {
  const int64_t n = 3, in = 7, out = 4;
  const Values x = random_values(n * in, 5), w = random_values(in * out, 6), bias = random_values(out, 7),
               residual = random_values(n * out, 8);
  Tensor tx = make_tensor(backend(), {n, in}, x), tw = make_tensor(backend(), {in, out}, w),
         tb = make_tensor(backend(), {out}, bias), tr = make_tensor(backend(), {n, out}, residual), y(backend(), {n, out});
  const Values plain = naive::dense_forward(n, in, out, x, w, bias);
  for (const ActivationParams& a : kActivations) {
    SCOPED_TRACE(describe(a));
    Epilogue e{&tb, &tr, true, a};
    backend().dense_forward(tx, tw, y, e);
    EXPECT_TRUE(all_close(read(backend(), y), naive::activation_forward(a, naive::add(plain, residual)), 1e-5, 1e-6));
  }
  Tensor wrong(backend(), {n, out + 1});
  Epilogue bad;
  bad.residual = &wrong;
  EXPECT_THROW(backend().dense_forward(tx, tw, y, bad), ShapeError);
}

TEST_P(SeamTest, BackwardBetaAccumulatesAndZeroOverwrites) {
  ConvParams p;
  p.kernel_h = p.kernel_w = 3;
  const Shape xs{2, 5, 5, 6}, ws{3, 3, 6, 4}, ys{2, 3, 3, 4};
  const Values x = random_values(xs.elements(), 11), w = random_values(ws.elements(), 12),
               dy = random_values(ys.elements(), 13), old_dx = random_values(xs.elements(), 14),
               old_dw = random_values(ws.elements(), 15), old_db = random_values(4, 16);
  Tensor tx = make_tensor(backend(), xs, x), tw = make_tensor(backend(), ws, w), tdy = make_tensor(backend(), ys, dy);
  const Values ndx = naive::conv_backward_data(p, xs, ws, w, dy);
  Values ndw, ndb;
  naive::conv_backward_weights(p, xs, x, ws, dy, true, ndw, ndb);

  Tensor dx = make_tensor(backend(), xs, old_dx);
  backend().conv_backward_data(p, tdy, tw, dx, 1.0f);
  EXPECT_TRUE(all_close(read(backend(), dx), naive::add(old_dx, ndx), 1e-4, 1e-5));
  Tensor dw = make_tensor(backend(), ws, old_dw), db = make_tensor(backend(), {4}, old_db);
  backend().conv_backward_weights(p, tx, tdy, dw, db, 1.0f);
  EXPECT_TRUE(all_close(read(backend(), dw), naive::add(old_dw, ndw), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(read(backend(), db), naive::add(old_db, ndb), 1e-4, 1e-5));

  // beta 0 ignores what was there, NaN included.
  write(backend(), dx, Values(old_dx.size(), std::numeric_limits<float>::quiet_NaN()));
  backend().conv_backward_data(p, tdy, tw, dx, 0.0f);
  EXPECT_TRUE(all_close(read(backend(), dx), ndx, 1e-4, 1e-5));

  const int64_t n = 4, in = 6, out = 3;
  const Values dx_in = random_values(n * in, 17), ddy = random_values(n * out, 18), dw_old = random_values(in * out, 19),
               xx = random_values(n * in, 20), wd = random_values(in * out, 21);
  Tensor dense_dx = make_tensor(backend(), {n, in}, dx_in), dense_dy = make_tensor(backend(), {n, out}, ddy),
         dense_w = make_tensor(backend(), {in, out}, wd), dense_x = make_tensor(backend(), {n, in}, xx),
         dense_dw = make_tensor(backend(), {in, out}, dw_old), no_bias;
  backend().dense_backward_data(dense_dy, dense_w, dense_dx, 1.0f);
  EXPECT_TRUE(all_close(read(backend(), dense_dx), naive::add(dx_in, naive::dense_backward_data(n, in, out, ddy, wd)),
                        1e-5, 1e-6));
  Values ndense_dw, unused;
  naive::dense_backward_weights(n, in, out, xx, ddy, false, ndense_dw, unused);
  backend().dense_backward_weights(dense_x, dense_dy, dense_dw, no_bias, 1.0f);
  EXPECT_TRUE(all_close(read(backend(), dense_dw), naive::add(dw_old, ndense_dw), 1e-5, 1e-6));
}

TEST_P(SeamTest, AdditionWithActivationAndBackwardFromTheOutput) {
  const Values a = random_values(50, 21), b = random_values(50, 22), dy = random_values(50, 23);
  Tensor ta = make_tensor(backend(), {50}, a), tb = make_tensor(backend(), {50}, b), out(backend(), {50}),
         dx(backend(), {50}), dx_from_input(backend(), {50});
  const Values sum = naive::add(a, b);
  for (const ActivationParams& act : kActivations) {
    SCOPED_TRACE(describe(act));
    backend().add(ta, tb, out, &act);
    EXPECT_TRUE(all_close(read(backend(), out), naive::activation_forward(act, sum), 1e-6, 1e-7));
    // Backward from the output alone equals backward from the input.
    Tensor tsum = make_tensor(backend(), {50}, sum), tdy = make_tensor(backend(), {50}, dy);
    backend().activation_backward(act, Tensor(), out, tdy, dx);
    backend().activation_backward(act, tsum, out, tdy, dx_from_input);
    EXPECT_TRUE(all_close(read(backend(), dx), naive::activation_backward(act, sum, dy), 1e-5, 1e-6));
    EXPECT_TRUE(all_close(read(backend(), dx_from_input), read(backend(), dx), 1e-5, 1e-6));
  }
}

TEST_P(SeamTest, BatchNormWithFusedReluMatchesBatchNormThenRelu) {
  const int64_t c = 6;
  const Shape xs{3, 4, 5, c};
  const Values x = random_values(xs.elements(), 31), gamma = random_values(c, 32, 0.5f, 1.5f),
               beta = random_values(c, 33), dy = random_values(xs.elements(), 34);
  const ActivationParams relu;
  BatchNormParams fused;
  fused.fuse_relu = true;
  Tensor tx = make_tensor(backend(), xs, x), tg = make_tensor(backend(), {c}, gamma), tbeta = make_tensor(backend(), {c}, beta),
         tdy = make_tensor(backend(), xs, dy), y(backend(), xs), mean(backend(), {c}), var(backend(), {c}),
         rm = make_tensor(backend(), {c}, Values(c, 0.0f)), rv = make_tensor(backend(), {c}, Values(c, 1.0f)),
         dx(backend(), xs), dg(backend(), {c}), db(backend(), {c});
  const size_t reserve_bytes = backend().batchnorm_reserve_bytes(fused, xs);
  Tensor reserve = reserve_bytes > 0 ? Tensor(backend(), {static_cast<int64_t>(reserve_bytes)}, DType::u8) : Tensor();
  backend().batchnorm_forward_training(fused, tx, tg, tbeta, y, mean, var, rm, rv, reserve);
  const naive::BatchNormResult plain = naive::batchnorm_training(fused.epsilon, c, x, gamma, beta);
  const Values expected_y = naive::activation_forward(relu, plain.y);
  EXPECT_TRUE(all_close(read(backend(), y), expected_y, 1e-4, 1e-5));
  backend().batchnorm_backward(fused, tx, tdy, tg, mean, var, reserve, dx, dg, db);
  // The gradient of relu(bn(x)): mask dy where the output is zero, then batch norm's backward.
  const Values masked = naive::activation_backward(relu, plain.y, dy);
  Values ndx, ndg, ndb;
  naive::batchnorm_backward(fused.epsilon, c, x, masked, gamma, ndx, ndg, ndb);
  EXPECT_TRUE(all_close(read(backend(), dx), ndx, 1e-3, 1e-4));
  EXPECT_TRUE(all_close(read(backend(), dg), ndg, 1e-3, 1e-4));
  EXPECT_TRUE(all_close(read(backend(), db), ndb, 1e-3, 1e-4));

  // Inference applies the ReLU too.
  backend().batchnorm_forward_inference(fused, tx, tg, tbeta, mean, var, y);
  EXPECT_TRUE(all_close(read(backend(), y), expected_y, 1e-4, 1e-5));
}

TEST_P(SeamTest, ClassificationTotalsAndConfusionAccumulateOnTheDevice) {
  const int64_t n = 5, k = 3;
  const Values logits = {1, 2, 0, 5, 5, 1, 0, 0, 0, -1, -2, 3, 9, 1, 1};  // rows: 1, 0 (tie: first), 0, 2, 0
  const std::vector<int32_t> labels = {1, 1, 0, 2, 2};
  const Values losses = {0.5f, 1.5f, 2.0f, 0.25f, 3.0f};
  Tensor tl = make_tensor(backend(), {n, k}, logits), ty = make_labels(backend(), labels),
         tloss = make_tensor(backend(), {n}, losses), totals(backend(), {2}, DType::f64),
         confusion(backend(), {k, k}, DType::i32), none;
  backend().fill(totals, 0.0f);
  backend().fill(confusion, 0.0f);
  backend().accumulate_classification(tl, ty, tloss, totals, confusion);
  backend().accumulate_classification(tl, ty, tloss, totals, none);  // totals only
  double host[2];
  backend().copy_to_host(totals, host);
  EXPECT_DOUBLE_EQ(host[0], 2 * 7.25);
  EXPECT_DOUBLE_EQ(host[1], 2 * 3);  // rows 0, 2 and 3 are right
  std::vector<int32_t> counts(9);
  backend().copy_to_host(confusion, counts.data());
  EXPECT_EQ(counts, (std::vector<int32_t>{1, 0, 0, 1, 1, 0, 1, 0, 1}));
}

TEST_P(SeamTest, AdamUpdatesOnlyTheSegmentsWithTheirDecay) {
  const int64_t size = 40;
  const Values w0 = random_values(size, 41), g = random_values(size, 42);
  Tensor w = make_tensor(backend(), {size}, w0), tg = make_tensor(backend(), {size}, g),
         m = make_tensor(backend(), {size}, Values(size, 0.0f)), v = make_tensor(backend(), {size}, Values(size, 0.0f));
  const std::vector<ArenaSegment> segments = {{0, 10, true}, {20, 15, false}};
  AdamParams p;
  p.lr = 0.1f;
  p.weight_decay = 0.5f;
  backend().adam_update(p, segments, w, tg, m, v);
  const Values got = read(backend(), w);
  for (int64_t i = 0; i < size; ++i) {
    const bool in_first = i < 10, in_second = i >= 20 && i < 35;
    if (!in_first && !in_second) {
      EXPECT_EQ(got[static_cast<size_t>(i)], w0[static_cast<size_t>(i)]) << i;
      continue;
    }
    // Step 1 of Adam: m/(1-b1) = grad, sqrt(v/(1-b2)) = |grad|, so w -= lr * grad / (|grad| + eps).
    const double grad = g[static_cast<size_t>(i)] + (in_first ? 0.5 * w0[static_cast<size_t>(i)] : 0.0);
    const double expected = w0[static_cast<size_t>(i)] - 0.1 * grad / (std::abs(grad) + p.epsilon);
    EXPECT_NEAR(got[static_cast<size_t>(i)], expected, 1e-5) << i;
  }
  const std::vector<ArenaSegment> outside = {{30, 20, true}};
  EXPECT_THROW(backend().adam_update(p, outside, w, tg, m, v), ShapeError);
}

TEST_P(SeamTest, EventsFollowAsynchronousCopiesFromPinnedMemory) {
  const Values x = random_values(1000, 51);
  void* pinned = backend().allocate_host(x.size() * sizeof(float));
  std::memcpy(pinned, x.data(), x.size() * sizeof(float));
  Tensor t(backend(), {1000});
  auto event = backend().make_event();
  backend().copy_from_host_async(pinned, t);
  event->record();
  event->wait();
  EXPECT_TRUE(event->done());
  EXPECT_EQ(read(backend(), t), x);
  backend().deallocate_host(pinned);
}

TEST_P(SeamTest, CountersSeeAllocationsAndPlans) {
  const BackendCounters before = backend().counters();
  Tensor t(backend(), {123});
  EXPECT_EQ(backend().counters().allocations, before.allocations + 1);
  ConvParams p;
  p.kernel_h = p.kernel_w = 1;
  Tensor x = make_tensor(backend(), {1, 3, 3, 7}, random_values(63, 1)), w = make_tensor(backend(), {1, 1, 7, 9}, random_values(63, 2)),
         y(backend(), {1, 3, 3, 9});
  const uint64_t plans = backend().counters().plans_built;
  backend().conv_forward(p, x, w, y);
  const uint64_t after_first = backend().counters().plans_built;
  EXPECT_GT(after_first, plans);
  backend().conv_forward(p, x, w, y);
  EXPECT_EQ(backend().counters().plans_built, after_first);
}

}  // namespace
}  // namespace stride::testing
