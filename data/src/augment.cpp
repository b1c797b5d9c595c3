// The augmentation chain and its single operations. Draws come straight from
// philox4x32 blocks keyed by (seed, epoch, index): block 0 holds the crop
// offsets, the flip and the angle; block 1 the scale, the shifts and the
// cutout coin; block 2 the cutout centre.
#include "stride/data/augment.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "stride/common/error.h"
#include "stride/common/rng.h"

namespace stride::data {
namespace {

// Index into [0, n) reflected about the edges without repeating them.
int reflect_index(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

float symmetric(uint32_t bits, float range) { return (2.0f * uniform_from_bits(bits) - 1.0f) * range; }

int below(uint32_t bits, int n) { return std::min(n - 1, static_cast<int>(uniform_from_bits(bits) * static_cast<float>(n))); }

}  // namespace

void crop_shift(const uint8_t* in, const ImageShape& shape, int dy, int dx, bool reflect, float* out) {
  const int h = static_cast<int>(shape.height), w = static_cast<int>(shape.width);
  const int c = static_cast<int>(shape.channels);
  for (int y = 0; y < h; ++y) {
    int sy = y + dy;
    const bool row_inside = sy >= 0 && sy < h;
    if (!row_inside && !reflect) {
      std::fill_n(out + static_cast<int64_t>(y) * w * c, w * c, 0.0f);
      continue;
    }
    if (!row_inside) sy = reflect_index(sy, h);
    const uint8_t* row = in + static_cast<int64_t>(sy) * w * c;
    float* dst = out + static_cast<int64_t>(y) * w * c;
    for (int x = 0; x < w; ++x) {
      int sx = x + dx;
      if (sx < 0 || sx >= w) {
        if (!reflect) {
          std::fill_n(dst + x * c, c, 0.0f);
          continue;
        }
        sx = reflect_index(sx, w);
      }
      for (int k = 0; k < c; ++k) dst[x * c + k] = row[sx * c + k];
    }
  }
}

void flip_horizontal(float* image, const ImageShape& shape) {
  const int64_t w = shape.width, c = shape.channels;
  for (int64_t y = 0; y < shape.height; ++y) {
    float* row = image + y * w * c;
    for (int64_t left = 0, right = w - 1; left < right; ++left, --right)
      std::swap_ranges(row + left * c, row + left * c + c, row + right * c);
  }
}

void affine_warp(const float* in, const ImageShape& shape, float angle_deg, float scale, float shift_y,
                 float shift_x, float* out) {
  const int h = static_cast<int>(shape.height), w = static_cast<int>(shape.width);
  const int c = static_cast<int>(shape.channels);
  const float radians = angle_deg * std::numbers::pi_v<float> / 180.0f;
  const float cos_a = std::cos(radians) / scale, sin_a = std::sin(radians) / scale;
  const float cy = 0.5f * static_cast<float>(h - 1), cx = 0.5f * static_cast<float>(w - 1);
  auto pixel = [&](int y, int x, int k) -> float {
    return (y < 0 || y >= h || x < 0 || x >= w) ? 0.0f : in[(static_cast<int64_t>(y) * w + x) * c + k];
  };
  for (int y = 0; y < h; ++y) {
    const float ry = static_cast<float>(y) - cy - shift_y;
    for (int x = 0; x < w; ++x) {
      const float rx = static_cast<float>(x) - cx - shift_x;
      const float sx = cos_a * rx + sin_a * ry + cx;
      const float sy = -sin_a * rx + cos_a * ry + cy;
      const float fx0 = std::floor(sx), fy0 = std::floor(sy);
      const float ax = sx - fx0, ay = sy - fy0;
      const int x0 = static_cast<int>(fx0), y0 = static_cast<int>(fy0);
      float* dst = out + (static_cast<int64_t>(y) * w + x) * c;
      for (int k = 0; k < c; ++k) {
        const float top = (1 - ax) * pixel(y0, x0, k) + ax * pixel(y0, x0 + 1, k);
        const float bottom = (1 - ax) * pixel(y0 + 1, x0, k) + ax * pixel(y0 + 1, x0 + 1, k);
        dst[k] = (1 - ay) * top + ay * bottom;
      }
    }
  }
}

void normalize(float* image, const ImageShape& shape, const double* mean, const double* std) {
  const int64_t c = shape.channels, pixels = shape.height * shape.width;
  float scale[4], bias[4];
  for (int64_t k = 0; k < c; ++k) {
    const double s = std[k] > 1e-12 ? std[k] : 1.0;
    scale[k] = static_cast<float>(1.0 / (255.0 * s));
    bias[k] = static_cast<float>(-mean[k] / s);
  }
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t k = 0; k < c; ++k) image[p * c + k] = image[p * c + k] * scale[k] + bias[k];
}

void erase_square(float* image, const ImageShape& shape, int cy, int cx, int side_h, int side_w) {
  const int64_t h = shape.height, w = shape.width, c = shape.channels;
  const int64_t y0 = std::max<int64_t>(0, cy - side_h / 2), y1 = std::min<int64_t>(h, cy - side_h / 2 + side_h);
  const int64_t x0 = std::max<int64_t>(0, cx - side_w / 2), x1 = std::min<int64_t>(w, cx - side_w / 2 + side_w);
  for (int64_t y = y0; y < y1; ++y)
    if (x1 > x0) std::fill(image + (y * w + x0) * c, image + (y * w + x1) * c, 0.0f);
}

Augmenter::Augmenter(const AugmentOptions& options, bool augment, ImageShape shape, std::vector<double> mean,
                     std::vector<double> std, uint64_t seed)
    : options_(options), augment_(augment), shape_(shape), mean_(std::move(mean)), std_(std::move(std)),
      seed_(seed) {
  const auto& o = options_;
  if (o.pad_mode != "reflect" && o.pad_mode != "zero")
    fail<ConfigError>("augment.pad_mode = '{}': expected reflect or zero", o.pad_mode);
  if (o.crop_padding < 0 || (o.pad_mode == "reflect" && o.crop_padding >= std::min(shape.height, shape.width)))
    fail<ConfigError>("augment.crop_padding = {}: must be in [0, {}) for {}x{} images", o.crop_padding,
                      std::min(shape.height, shape.width), shape.height, shape.width);
  if (!(o.rotate_deg >= 0 && o.rotate_deg <= 180))
    fail<ConfigError>("augment.rotate_deg = {}: must be in [0, 180]", o.rotate_deg);
  if (!(o.zoom >= 0 && o.zoom < 1)) fail<ConfigError>("augment.zoom = {}: must be in [0, 1)", o.zoom);
  if (!(o.translate >= 0 && o.translate < 1))
    fail<ConfigError>("augment.translate = {}: must be in [0, 1)", o.translate);
  if (!(o.cutout >= 0 && o.cutout <= 1)) fail<ConfigError>("augment.cutout = {}: must be in [0, 1]", o.cutout);
  if (shape.channels > 4) fail<DataError>("{} channels: at most 4 are supported", shape.channels);
  if (o.normalize && (mean_.size() != static_cast<size_t>(shape.channels) || std_.size() != mean_.size()))
    fail<DataError>("normalisation needs one mean and std per channel ({}), got {} and {}", shape.channels,
                    mean_.size(), std_.size());
  affine_ = augment_ && (o.rotate_deg > 0 || o.zoom > 0 || o.translate > 0);
}

AugmentDraw Augmenter::draw(int64_t epoch, int64_t index) const {
  AugmentDraw d;
  if (!augment_) return d;
  const uint64_t key = mix_key(mix_key(seed_, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(index));
  const Philox4 b0 = philox4x32(key, 0xA06, 0), b1 = philox4x32(key, 0xA06, 1), b2 = philox4x32(key, 0xA06, 2);
  const auto& o = options_;
  const int h = static_cast<int>(shape_.height), w = static_cast<int>(shape_.width);
  if (o.crop_padding > 0) {
    d.crop_dy = below(b0.v[0], 2 * o.crop_padding + 1) - o.crop_padding;
    d.crop_dx = below(b0.v[1], 2 * o.crop_padding + 1) - o.crop_padding;
  }
  d.flip = o.hflip && (b0.v[2] & 0x80000000u);
  if (o.rotate_deg > 0) d.angle_deg = symmetric(b0.v[3], o.rotate_deg);
  if (o.zoom > 0) d.scale = 1.0f + symmetric(b1.v[0], o.zoom);
  if (o.translate > 0) {
    d.shift_y = symmetric(b1.v[1], o.translate * static_cast<float>(h));
    d.shift_x = symmetric(b1.v[2], o.translate * static_cast<float>(w));
  }
  if (o.cutout > 0 && uniform_from_bits(b1.v[3]) < 0.5f) {
    d.cutout = true;
    d.cutout_y = below(b2.v[0], h);
    d.cutout_x = below(b2.v[1], w);
  }
  return d;
}

void Augmenter::apply(const uint8_t* in, int64_t epoch, int64_t index, float* scratch, float* out) const {
  const int64_t n = shape_.bytes();
  const AugmentDraw d = draw(epoch, index);
  if (!augment_) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i];
  } else {
    float* target = affine_ ? scratch : out;
    crop_shift(in, shape_, d.crop_dy, d.crop_dx, options_.pad_mode == "reflect", target);
    if (d.flip) flip_horizontal(target, shape_);
    if (affine_) affine_warp(scratch, shape_, d.angle_deg, d.scale, d.shift_y, d.shift_x, out);
  }
  if (options_.normalize) {
    normalize(out, shape_, mean_.data(), std_.data());
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] /= 255.0f;
  }
  if (d.cutout) {
    const auto side = [&](int64_t size) {
      return std::max(1, static_cast<int>(std::lround(options_.cutout * static_cast<float>(size))));
    };
    erase_square(out, shape_, d.cutout_y, d.cutout_x, side(shape_.height), side(shape_.width));
  }
}

}  // namespace stride::data
