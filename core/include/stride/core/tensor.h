// Shapes and tensors. Activations are NHWC (channels last), the layout oneDNN's
// nhwc kernels and cuDNN's tensor-core convolutions favour and the one Keras
// uses, so flatten order and weight files match Keras. Convolution kernels are
// HWIO ([kh, kw, in, out]) and dense kernels [in, out], as in Keras.
//
// A Tensor is a typed view (pointer + shape) over storage owned by a backend's
// allocator and shared by its views. Buffers are allocated once for the largest
// batch; a smaller batch uses a prefix view (batch is the outermost dimension),
// so the steady-state training step allocates nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

namespace stride {

class Backend;

enum class Device : uint8_t { cpu, cuda };
enum class DType : uint8_t { f32, i32, u8, f64 };  // f64: accumulators (step metrics), not activations

size_t dtype_size(DType dtype);
const char* device_name(Device device);

class Shape {
 public:
  static constexpr int kMaxRank = 5;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int axis) const { return dims_[static_cast<size_t>(axis)]; }
  int64_t& operator[](int axis) { return dims_[static_cast<size_t>(axis)]; }
  int64_t elements() const;
  // This shape with a leading batch dimension: (H,W,C) -> (N,H,W,C).
  Shape with_batch(int64_t n) const;
  // This shape without its leading dimension.
  Shape sample() const;
  std::string str() const;  // "(32, 28, 28, 1)"

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates uninitialised storage for `shape` on the backend's device.
  Tensor(Backend& backend, const Shape& shape, DType dtype = DType::f32);
  // A non-owning view over memory someone else keeps alive.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device);

  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int64_t elements() const { return shape_.elements(); }
  size_t bytes() const { return static_cast<size_t>(elements()) * dtype_size(dtype_); }
  int64_t dim(int axis) const { return shape_[axis]; }

  void* raw() const { return data_; }
  float* f32() const;
  int32_t* i32() const;
  uint8_t* u8() const;
  double* f64() const;

  // Same storage, another shape of at most as many elements.
  Tensor view(const Shape& shape) const;
  // The first n rows along dimension 0.
  Tensor batch_prefix(int64_t n) const;
  // Rows [first, first + n) along dimension 0.
  Tensor batch_rows(int64_t first, int64_t n) const;
  // Same storage from element `offset` on, under `shape` (a parameter's place in an arena).
  Tensor slice(int64_t offset, const Shape& shape) const;

 private:
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  size_t capacity_ = 0;  // bytes reachable from data_
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
};

}  // namespace stride
