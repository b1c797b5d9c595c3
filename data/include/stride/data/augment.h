// Training-time augmentation of one uint8 HWC image into float32 HWC. The
// chain, in order: random crop after padding (reflect or zero), horizontal
// flip, one affine warp (rotation + zoom + translation, bilinear, zero fill),
// per-channel normalisation, cutout (a square set to 0 after normalisation,
// with probability 0.5). Every random draw of image i in epoch e comes from
// Philox keyed by (seed, epoch, i) at a fixed counter per parameter, so the
// result depends on nothing else — not the rank, the worker or the batch — and
// turning one augmentation on does not change the draws of another.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stride/data/manifest.h"

namespace stride::data {

struct AugmentOptions {             // [augment] section; all off by default except normalize
  int crop_padding = 0;             // random crop after padding by this many pixels
  std::string pad_mode = "reflect"; // reflect | zero
  bool hflip = false;
  float rotate_deg = 0;             // uniform in [-r, r]
  float zoom = 0;                   // scale uniform in [1-z, 1+z]
  float translate = 0;              // shift uniform in [-t, t] * size
  float cutout = 0;                 // erase one square of side cutout * size (fraction), probability 0.5
  bool normalize = true;            // (x/255 - mean[c]) / std[c] with the manifest's train stats; else x/255
};

// The random parameters drawn for one image (what the chain will do to it).
struct AugmentDraw {
  int crop_dy = 0, crop_dx = 0;  // source offset of the crop, in [-padding, padding]
  bool flip = false;
  float angle_deg = 0, scale = 1, shift_y = 0, shift_x = 0;  // shifts in pixels
  bool cutout = false;
  int cutout_y = 0, cutout_x = 0;  // centre of the erased square
};

// --- The single operations, exposed for tests and tools. Images are HWC. ---

// out(y, x) = in(y + dy, x + dx) as floats in [0, 255]; outside the image it
// reflects about the edge pixel (dcb|abcd, as numpy's "reflect") or reads 0.
void crop_shift(const uint8_t* in, const ImageShape& shape, int dy, int dx, bool reflect, float* out);
// Mirrors each row in place.
void flip_horizontal(float* image, const ImageShape& shape);
// Output pixel p samples the input at centre + R(-angle) * (p - centre - shift) / scale,
// bilinearly, 0 outside. Angle 0, scale 1, shift 0 is the identity.
void affine_warp(const float* in, const ImageShape& shape, float angle_deg, float scale, float shift_y,
                 float shift_x, float* out);
// (x/255 - mean[c]) / std[c] per channel in place (std 0 is treated as 1).
void normalize(float* image, const ImageShape& shape, const double* mean, const double* std);
// Sets the side_h x side_w square centred at (cy, cx), clipped to the image, to 0.
void erase_square(float* image, const ImageShape& shape, int cy, int cx, int side_h, int side_w);

class Augmenter {
 public:
  // Checks options (ConfigError naming the key and value); with `augment` false
  // only the normalisation step (or the scaling by 1/255) is applied.
  Augmenter(const AugmentOptions& options, bool augment, ImageShape shape, std::vector<double> mean,
            std::vector<double> std, uint64_t seed);

  AugmentDraw draw(int64_t epoch, int64_t index) const;
  // `scratch` holds shape.bytes() floats; `out` receives shape.bytes() floats.
  void apply(const uint8_t* in, int64_t epoch, int64_t index, float* scratch, float* out) const;
  bool augmenting() const { return augment_; }

 private:
  AugmentOptions options_;
  bool augment_;
  bool affine_;
  ImageShape shape_;
  std::vector<double> mean_, std_;
  uint64_t seed_;
};

}  // namespace stride::data
