// Augmentation: each single operation against a naive loop written from its
// documented definition, the chain against the composition of those
// operations, and the draws as a pure function of (seed, epoch, index).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "stride/common/error.h"
#include "stride/data/augment.h"

namespace stride::data {
namespace {

// numpy's "reflect": -1 -> 1, n -> n - 2 (the edge pixel is not repeated).
int naive_reflect(int i, int n) {
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

std::vector<uint8_t> pattern(const ImageShape& s, int seed = 0) {
  std::vector<uint8_t> image(static_cast<size_t>(s.bytes()));
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<uint8_t>((i * 31 + seed * 17 + i * i) % 256);
  return image;
}

std::vector<float> as_float(const std::vector<uint8_t>& in) { return std::vector<float>(in.begin(), in.end()); }

size_t at(const ImageShape& s, int64_t y, int64_t x, int64_t c) {
  return static_cast<size_t>((y * s.width + x) * s.channels + c);
}

TEST(CropShift, ReflectAndZeroMatchNaive) {
  const ImageShape s{5, 7, 3};
  const auto in = pattern(s);
  std::vector<float> out(static_cast<size_t>(s.bytes()));
  for (int dy : {-4, -1, 0, 2, 4})
    for (int dx : {-4, 0, 3}) {
      for (bool reflect : {true, false}) {
        crop_shift(in.data(), s, dy, dx, reflect, out.data());
        for (int y = 0; y < s.height; ++y)
          for (int x = 0; x < s.width; ++x)
            for (int c = 0; c < s.channels; ++c) {
              const int sy = y + dy, sx = x + dx;
              const bool inside = sy >= 0 && sy < s.height && sx >= 0 && sx < s.width;
              const float expected = reflect  ? in[at(s, naive_reflect(sy, 5), naive_reflect(sx, 7), c)]
                                     : inside ? in[at(s, sy, sx, c)]
                                              : 0.0f;
              ASSERT_EQ(out[at(s, y, x, c)], expected)
                  << "dy " << dy << " dx " << dx << " reflect " << reflect << " at " << y << "," << x << "," << c;
            }
      }
    }
}

TEST(Flip, MirrorsEveryRow) {
  const ImageShape s{3, 4, 3};
  const auto in = as_float(pattern(s));
  auto image = in;
  flip_horizontal(image.data(), s);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(image[at(s, y, x, c)], in[at(s, y, 3 - x, c)]);
  const ImageShape odd{2, 5, 1};
  std::vector<float> row = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  flip_horizontal(row.data(), odd);
  EXPECT_EQ(row, (std::vector<float>{4, 3, 2, 1, 0, 9, 8, 7, 6, 5}));
}

TEST(Affine, IdentityIsExact) {
  const ImageShape s{6, 5, 3};
  const auto in = as_float(pattern(s));
  std::vector<float> out(in.size());
  affine_warp(in.data(), s, 0, 1, 0, 0, out.data());
  EXPECT_EQ(out, in);
}

TEST(Affine, QuarterTurnMovesPixelsLikeTheFormula) {
  // Output p samples centre + R(-90°)(p - centre): source x = y, source y = n-1-x.
  const ImageShape s{6, 6, 2};
  const auto in = as_float(pattern(s));
  std::vector<float> out(in.size());
  affine_warp(in.data(), s, 90, 1, 0, 0, out.data());
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 2; ++c) ASSERT_NEAR(out[at(s, y, x, c)], in[at(s, 5 - x, y, c)], 1e-3) << y << "," << x;
  // Four quarter turns are the identity.
  std::vector<float> turned = in, next(in.size());
  for (int k = 0; k < 4; ++k) {
    affine_warp(turned.data(), s, 90, 1, 0, 0, next.data());
    turned.swap(next);
  }
  for (size_t i = 0; i < in.size(); ++i) ASSERT_NEAR(turned[i], in[i], 1e-2);
}

TEST(Affine, IntegerShiftTranslatesWithZeroFill) {
  const ImageShape s{4, 5, 1};
  const auto in = as_float(pattern(s));
  std::vector<float> out(in.size());
  affine_warp(in.data(), s, 0, 1, 1, -2, out.data());  // out(y, x) = in(y - 1, x + 2)
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) {
      const int sy = y - 1, sx = x + 2;
      const float expected = (sy >= 0 && sy < 4 && sx < 5) ? in[at(s, sy, sx, 0)] : 0.0f;
      ASSERT_NEAR(out[at(s, y, x, 0)], expected, 1e-4) << y << "," << x;
    }
}

TEST(Affine, HalfPixelShiftAveragesNeighbours) {
  const ImageShape s{1, 4, 1};
  const std::vector<float> in = {0, 10, 20, 30};
  std::vector<float> out(4);
  affine_warp(in.data(), s, 0, 1, 0, 0.5f, out.data());  // samples x - 0.5
  EXPECT_NEAR(out[1], 5, 1e-4);
  EXPECT_NEAR(out[3], 25, 1e-4);
}

TEST(Normalize, PerChannelMeanAndStd) {
  const ImageShape s{2, 2, 3};
  const auto in = as_float(pattern(s));
  auto image = in;
  const double mean[3] = {0.1, 0.5, 0.9}, std[3] = {0.2, 0.0, 2.0};
  normalize(image.data(), s, mean, std);
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 3; ++c) {
      const double sd = std[c] == 0 ? 1.0 : std[c];
      EXPECT_NEAR(image[static_cast<size_t>(p * 3 + c)], (in[static_cast<size_t>(p * 3 + c)] / 255.0 - mean[c]) / sd,
                  1e-5);
    }
}

TEST(EraseSquare, ClipsAtTheBorders) {
  const ImageShape s{6, 7, 2};
  for (auto [cy, cx, side_h, side_w] : {std::array{3, 3, 2, 3}, std::array{0, 6, 4, 4}, std::array{5, 0, 3, 1}}) {
    std::vector<float> image(static_cast<size_t>(s.bytes()), 1.0f);
    erase_square(image.data(), s, cy, cx, side_h, side_w);
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 7; ++x) {
        const bool erased = y >= cy - side_h / 2 && y < cy - side_h / 2 + side_h && x >= cx - side_w / 2 &&
                            x < cx - side_w / 2 + side_w;
        for (int c = 0; c < 2; ++c) ASSERT_EQ(image[at(s, y, x, c)], erased ? 0.0f : 1.0f) << y << "," << x;
      }
  }
}

AugmentOptions full_chain() {
  AugmentOptions o;
  o.crop_padding = 3;
  o.hflip = true;
  o.rotate_deg = 10;
  o.zoom = 0.1f;
  o.translate = 0.1f;
  o.cutout = 0.25f;
  return o;
}

const ImageShape kShape{12, 10, 3};
const std::vector<double> kMean = {0.4, 0.5, 0.6}, kStd = {0.2, 0.25, 0.3};

TEST(Augmenter, DrawsArePureFunctionsOfSeedEpochIndex) {
  const Augmenter a(full_chain(), true, kShape, kMean, kStd, 42), b(full_chain(), true, kShape, kMean, kStd, 42);
  const Augmenter other_seed(full_chain(), true, kShape, kMean, kStd, 43);
  int same_epoch_pairs = 0, same_seed_pairs = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const AugmentDraw d = a.draw(3, i), e = b.draw(3, i);
    EXPECT_EQ(d.crop_dy, e.crop_dy);
    EXPECT_EQ(d.angle_deg, e.angle_deg);
    EXPECT_EQ(d.cutout_x, e.cutout_x);
    const AugmentDraw next_epoch = a.draw(4, i), reseeded = other_seed.draw(3, i);
    same_epoch_pairs += next_epoch.angle_deg == d.angle_deg;
    same_seed_pairs += reseeded.angle_deg == d.angle_deg;
  }
  EXPECT_LE(same_epoch_pairs, 2);
  EXPECT_LE(same_seed_pairs, 2);
}

TEST(Augmenter, DrawsCoverTheirRanges) {
  const Augmenter a(full_chain(), true, kShape, kMean, kStd, 7);
  std::set<int> dys;
  int flips = 0, cutouts = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    const AugmentDraw d = a.draw(0, i);
    dys.insert(d.crop_dy);
    ASSERT_LE(std::abs(d.crop_dx), 3);
    ASSERT_LE(std::abs(d.angle_deg), 10.0f);
    ASSERT_GE(d.scale, 0.9f);
    ASSERT_LE(d.scale, 1.1f);
    ASSERT_LE(std::abs(d.shift_y), 0.1f * 12);
    ASSERT_LE(std::abs(d.shift_x), 0.1f * 10);
    ASSERT_GE(d.cutout_y, 0);
    ASSERT_LT(d.cutout_y, 12);
    flips += d.flip;
    cutouts += d.cutout;
  }
  EXPECT_EQ(dys.size(), 7u);  // every offset in [-3, 3]
  EXPECT_NEAR(flips, 1000, 150);
  EXPECT_NEAR(cutouts, 1000, 150);
}

TEST(Augmenter, TurningOneAugmentationOnLeavesTheOthersDrawsAlone) {
  AugmentOptions crop_only;
  crop_only.crop_padding = 3;
  crop_only.hflip = true;
  const Augmenter a(crop_only, true, kShape, kMean, kStd, 5), b(full_chain(), true, kShape, kMean, kStd, 5);
  for (int64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(a.draw(1, i).crop_dy, b.draw(1, i).crop_dy);
    EXPECT_EQ(a.draw(1, i).flip, b.draw(1, i).flip);
  }
}

TEST(Augmenter, ChainIsTheCompositionOfTheOperations) {
  const Augmenter a(full_chain(), true, kShape, kMean, kStd, 9);
  const auto in = pattern(kShape, 1);
  const auto n = static_cast<size_t>(kShape.bytes());
  std::vector<float> scratch(n), out(n), crop(n), warped(n);
  int cutouts = 0;
  for (int64_t i = 0; i < 20; ++i) {
    const AugmentDraw d = a.draw(2, i);
    a.apply(in.data(), 2, i, scratch.data(), out.data());
    crop_shift(in.data(), kShape, d.crop_dy, d.crop_dx, true, crop.data());
    if (d.flip) flip_horizontal(crop.data(), kShape);
    affine_warp(crop.data(), kShape, d.angle_deg, d.scale, d.shift_y, d.shift_x, warped.data());
    normalize(warped.data(), kShape, kMean.data(), kStd.data());
    if (d.cutout)
      erase_square(warped.data(), kShape, d.cutout_y, d.cutout_x, 3, 3);  // round(0.25 * 12), round(0.25 * 10)
    cutouts += d.cutout;
    for (size_t k = 0; k < n; ++k) ASSERT_NEAR(out[k], warped[k], 1e-5) << "image " << i << " value " << k;
  }
  EXPECT_GT(cutouts, 0);
}

TEST(Augmenter, EvaluationOnlyNormalises) {
  const Augmenter eval(full_chain(), false, kShape, kMean, kStd, 9);
  EXPECT_FALSE(eval.augmenting());
  const auto in = pattern(kShape, 2);
  const auto n = static_cast<size_t>(kShape.bytes());
  std::vector<float> scratch(n), out(n);
  for (int64_t i = 0; i < 5; ++i) {
    const AugmentDraw d = eval.draw(0, i);
    EXPECT_EQ(d.crop_dy, 0);
    EXPECT_FALSE(d.flip);
    EXPECT_FALSE(d.cutout);
    eval.apply(in.data(), 0, i, scratch.data(), out.data());
    for (size_t k = 0; k < n; ++k)
      ASSERT_NEAR(out[k], (in[k] / 255.0 - kMean[k % 3]) / kStd[k % 3], 1e-5) << "value " << k;
  }
  AugmentOptions plain;
  plain.normalize = false;
  const Augmenter scale_only(plain, false, kShape, {}, {}, 0);
  scale_only.apply(in.data(), 0, 0, scratch.data(), out.data());
  for (size_t k = 0; k < n; ++k) ASSERT_FLOAT_EQ(out[k], in[k] / 255.0f);
}

TEST(Augmenter, BadOptionsNameTheKey) {
  const auto message = [](AugmentOptions o) -> std::string {
    try {
      Augmenter(o, true, kShape, kMean, kStd, 0);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  AugmentOptions o;
  o.pad_mode = "wrap";
  EXPECT_NE(message(o).find("augment.pad_mode"), std::string::npos);
  o = {};
  o.crop_padding = 10;  // reflect padding must stay under the image side
  EXPECT_NE(message(o).find("augment.crop_padding"), std::string::npos);
  o = {};
  o.zoom = 1.5f;
  EXPECT_NE(message(o).find("augment.zoom"), std::string::npos);
  o = {};
  o.rotate_deg = -1;
  EXPECT_NE(message(o).find("augment.rotate_deg"), std::string::npos);
  EXPECT_THROW(Augmenter(AugmentOptions{}, false, kShape, {0.5}, {0.5}, 0), DataError);  // one mean for 3 channels
}

}  // namespace
}  // namespace stride::data
