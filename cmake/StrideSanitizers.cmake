# Sanitizer and fuzzing builds (the asan-ubsan preset: both). The flags go
# on every C/C++ target of the tree, so a report points into any library:
#   STRIDE_SANITIZE=address,undefined   -fsanitize=..., frame pointers kept,
#                                       UBSan stops at the first report
#   STRIDE_FUZZ=ON                      clang only: our code is built with
#                                       -fsanitize=fuzzer-no-link (coverage for
#                                       libFuzzer), fuzz/ adds the targets, each
#                                       linked with -fsanitize=fuzzer
# Debian's libraries (HDF5, oneDNN, zlib, ...) stay uninstrumented; ASan still
# checks what they do through its interceptors (memcpy, malloc, ...).
set(STRIDE_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined")
option(STRIDE_FUZZ "Build the libFuzzer targets in fuzz/ (clang)" OFF)

set(stride_sanitize_flags "")
if(STRIDE_SANITIZE)
  list(APPEND stride_sanitize_flags -fsanitize=${STRIDE_SANITIZE} -fno-omit-frame-pointer)
  if(STRIDE_SANITIZE MATCHES "undefined")
    list(APPEND stride_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  # GCC 12's flow warnings take the sanitizers' inserted checks for paths the
  # code has (a memset of SIZE_MAX bytes in vector::resize, std::regex's
  # std::function "maybe uninitialized"): false reports that the same code
  # without sanitizers does not give.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    list(APPEND stride_sanitize_flags -Wno-maybe-uninitialized -Wno-stringop-overflow -Wno-array-bounds)
  endif()
  add_link_options(-fsanitize=${STRIDE_SANITIZE})
endif()
if(STRIDE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STRIDE_FUZZ=ON needs clang (libFuzzer): configure with the asan-ubsan preset "
                        "or -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  # -O1 leaves some `omp simd` loops scalar; clang warns about each, gcc does not.
  list(APPEND stride_sanitize_flags -fsanitize=fuzzer-no-link -Wno-pass-failed)
endif()
if(stride_sanitize_flags)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${stride_sanitize_flags}>")
endif()
