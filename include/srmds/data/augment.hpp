// Training-time augmentation of one slice (the transforms nnU-Net and MONAI apply to small 2-D sets),
// drawn per served sample from its own Rng, so a batch depends only on (seed, epoch, position).
//
// Spatial, with probability `spatial_p` (else the identity): about the image centre c, output pixel
// q reads the input at
//     s = c + R(-theta) (q - c) / k + d(q)
//   theta uniform in [-rotate_deg, rotate_deg]; k log-uniform in [1 / (1 + scale), 1 + scale];
//   d a smooth random displacement: a 4 x 4 grid of offsets, normal with standard deviation
//   `deform` x min(H, W) pixels, interpolated bilinearly over the image (grid deformation).
//   The image is sampled bilinearly with edge replication, the mask bilinearly and thresholded at 0.5
//   (so a lesion keeps its shape instead of taking nearest-neighbour stairs).
// Intensity, with probability `intensity_p`, on the image only (values in [0, 1] after windowing):
//     x <- clamp(x, 0, 1)^g,  g log-uniform in [1 / (1 + gamma), 1 + gamma]
//     x <- (x - mean) a + mean + b,  a uniform in [1 - contrast, 1 + contrast], b uniform in
//          [-brightness, brightness]   (mean: the slice's mean after the gamma)
// Everything off (the default) serves the slices as they are.
#pragma once

#include <cstdint>
#include <string>

#include "srmds/core/rng.hpp"

namespace srmds {

struct Augmentation {
  double rotate_deg = 0, scale = 0, deform = 0, spatial_p = 0.5;
  double gamma = 0, contrast = 0, brightness = 0, intensity_p = 0.5;

  bool spatial() const { return rotate_deg > 0 || scale > 0 || deform > 0; }
  bool intensity() const { return gamma > 0 || contrast > 0 || brightness > 0; }
  bool any() const { return spatial() || intensity(); }
  // Throws srmds::Error naming the option when a value is out of range.
  void check() const;
};

// "none", "default" (the preset below), or comma-separated key=value pairs with the keys rotate,
// scale, deform, spatial_p, gamma, contrast, brightness, intensity_p (e.g. "rotate=15,scale=0.15").
// default: rotate 15, scale 0.15, deform 0.03, gamma 0.3, contrast 0.2, brightness 0.1, p 0.5 each.
Augmentation parse_augmentation(const std::string& text);
std::string augmentation_to_string(const Augmentation& a);

// Applies `a` to one (H, W) slice: image in, mask in {0, 1}; writes the augmented image and mask
// (0/1 floats) to the outputs, which must not alias the inputs.
void augment_slice(const Augmentation& a, Rng& rng, const float* image, const uint8_t* mask, int height, int width,
                   float* image_out, float* mask_out);

}  // namespace srmds
