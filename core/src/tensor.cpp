// Shapes and tensors: storage shared between views, freed by the backend that made it.
#include "stride/core/tensor.h"

#include <fmt/format.h>

#include <algorithm>

#include "stride/common/error.h"
#include "stride/core/backend.h"

namespace stride {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::u8: return 1;
    case DType::f64: return 8;
  }
  return 0;
}

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

Shape::Shape(std::initializer_list<int64_t> dims) {
  if (dims.size() > kMaxRank) fail<ShapeError>("shape of rank {} exceeds {}", dims.size(), kMaxRank);
  for (int64_t d : dims) {
    if (d < 0) fail<ShapeError>("negative dimension {}", d);
    dims_[static_cast<size_t>(rank_++)] = d;
  }
}

int64_t Shape::elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
  return n;
}

Shape Shape::with_batch(int64_t n) const {
  if (rank_ == kMaxRank) fail<ShapeError>("cannot add a batch dimension to {}", str());
  Shape out;
  out.rank_ = rank_ + 1;
  out.dims_[0] = n;
  for (int i = 0; i < rank_; ++i) out.dims_[static_cast<size_t>(i + 1)] = dims_[static_cast<size_t>(i)];
  return out;
}

Shape Shape::sample() const {
  if (rank_ == 0) fail<ShapeError>("a scalar shape has no batch dimension");
  Shape out;
  out.rank_ = rank_ - 1;
  for (int i = 1; i < rank_; ++i) out.dims_[static_cast<size_t>(i - 1)] = dims_[static_cast<size_t>(i)];
  return out;
}

std::string Shape::str() const {
  std::string out = "(";
  for (int i = 0; i < rank_; ++i) out += fmt::format("{}{}", i ? ", " : "", dims_[static_cast<size_t>(i)]);
  return out + (rank_ == 1 ? ",)" : ")");
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<size_t>(i)] != other.dims_[static_cast<size_t>(i)]) return false;
  return true;
}

Tensor::Tensor(Backend& backend, const Shape& shape, DType dtype)
    : shape_(shape), dtype_(dtype), device_(backend.device()) {
  capacity_ = bytes();
  void* pointer = backend.allocate(capacity_ == 0 ? dtype_size(dtype) : capacity_);
  storage_ = std::shared_ptr<void>(pointer, [&backend](void* p) { backend.deallocate(p); });
  data_ = pointer;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.data_ = data;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.capacity_ = t.bytes();
  return t;
}

float* Tensor::f32() const {
  if (dtype_ != DType::f32) fail<ShapeError>("tensor {} is not float32", shape_.str());
  return static_cast<float*>(data_);
}

int32_t* Tensor::i32() const {
  if (dtype_ != DType::i32) fail<ShapeError>("tensor {} is not int32", shape_.str());
  return static_cast<int32_t*>(data_);
}

uint8_t* Tensor::u8() const {
  if (dtype_ != DType::u8) fail<ShapeError>("tensor {} is not uint8", shape_.str());
  return static_cast<uint8_t*>(data_);
}

double* Tensor::f64() const {
  if (dtype_ != DType::f64) fail<ShapeError>("tensor {} is not float64", shape_.str());
  return static_cast<double*>(data_);
}

Tensor Tensor::view(const Shape& shape) const {
  const size_t needed = static_cast<size_t>(shape.elements()) * dtype_size(dtype_);
  if (needed > capacity_)
    fail<ShapeError>("view {} needs {} bytes, storage of {} holds {}", shape.str(), needed, shape_.str(), capacity_);
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::batch_rows(int64_t first, int64_t n) const {
  if (shape_.rank() == 0 || first < 0 || n < 0 || first + n > shape_[0])
    fail<ShapeError>("rows [{}, {}) of a tensor of shape {}", first, first + n, shape_.str());
  Shape s = shape_;
  s[0] = n;
  return slice(first * (elements() / std::max<int64_t>(shape_[0], 1)), s);
}

Tensor Tensor::slice(int64_t offset, const Shape& shape) const {
  const size_t element = dtype_size(dtype_);
  const size_t begin = static_cast<size_t>(offset) * element;
  const size_t needed = static_cast<size_t>(shape.elements()) * element;
  if (offset < 0 || begin + needed > capacity_)
    fail<ShapeError>("slice {} at element {} needs {} bytes, storage of {} holds {}", shape.str(), offset,
                     begin + needed, shape_.str(), capacity_);
  Tensor t = *this;
  t.data_ = static_cast<char*>(data_) + begin;
  t.capacity_ = capacity_ - begin;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::batch_prefix(int64_t n) const {
  if (shape_.rank() == 0 || n > shape_[0])
    fail<ShapeError>("batch prefix of {} rows from a tensor of shape {}", n, shape_.str());
  Shape s = shape_;
  s[0] = n;
  return view(s);
}

int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after) {
  const int64_t span = input + pad_before + pad_after - kernel;
  if (span < 0 || stride <= 0) return 0;
  return span / stride + 1;
}

}  // namespace stride
