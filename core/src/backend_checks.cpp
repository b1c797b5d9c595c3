// Argument checks shared by the backends (backend_checks.h).
#include "stride/core/backend_checks.h"

#include "stride/common/error.h"

namespace stride {

void check_arena_segments(std::span<const ArenaSegment> segments, std::initializer_list<const Tensor*> arenas,
                          const char* op) {
  for (const Tensor* t : arenas)
    if (t->elements() != arenas.begin()[0]->elements())
      fail<ShapeError>("{}: arena tensors {} and {} differ in size", op, t->shape().str(),
                       arenas.begin()[0]->shape().str());
  const int64_t size = arenas.begin()[0]->elements();
  for (const ArenaSegment& s : segments)
    if (s.offset < 0 || s.count < 0 || s.offset + s.count > size)
      fail<ShapeError>("{}: segment [{}, {}) outside an arena of {} elements", op, s.offset, s.offset + s.count, size);
}

void check_classification_shapes(const Tensor& logits, const Tensor& labels, const Tensor& losses, const Tensor& totals,
                                 const Tensor& confusion) {
  if (logits.shape().rank() != 2 || labels.elements() != logits.dim(0) || losses.elements() != logits.dim(0) ||
      totals.elements() != 2)
    fail<ShapeError>("accumulate_classification: logits {}, labels {}, losses {}, totals {} do not fit",
                     logits.shape().str(), labels.shape().str(), losses.shape().str(), totals.shape().str());
  const int64_t k = logits.dim(1);
  if (confusion.defined() && confusion.elements() != k * k)
    fail<ShapeError>("accumulate_classification: confusion {} for {} classes", confusion.shape().str(), k);
}

}  // namespace stride
