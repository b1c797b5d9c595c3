// The message of the error of type E that body throws, or "" when it throws
// none: tests then compare what the user would read. Another exception
// escapes and fails the test.
#pragma once

#include <exception>
#include <string>

namespace stride::testing {

template <typename E = std::exception, typename Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace stride::testing
