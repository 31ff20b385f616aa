// How Catch2 prints the project's enums and status codes in failed
// assertions ("live == shadow" rather than "4 == 3"). Include after
// <catch2/catch.hpp>.
#ifndef CUTOVER_TESTS_PRINTERS_H_
#define CUTOVER_TESTS_PRINTERS_H_

#include <catch2/catch.hpp>

#include <string>

#include "absl/status/status.h"
#include "core/evaluate.h"
#include "core/stage.h"

namespace Catch {

template <>
struct StringMaker<cutover::Stage> {
  static std::string convert(cutover::Stage stage) {
    return cutover::StageName(stage);
  }
};

template <>
struct StringMaker<cutover::Origin> {
  static std::string convert(cutover::Origin origin) {
    return cutover::OriginName(origin);
  }
};

template <>
struct StringMaker<cutover::Reason> {
  static std::string convert(cutover::Reason reason) {
    return cutover::ReasonName(reason);
  }
};

template <>
struct StringMaker<absl::StatusCode> {
  static std::string convert(absl::StatusCode code) {
    return absl::StatusCodeToString(code);
  }
};

}  // namespace Catch

#endif  // CUTOVER_TESTS_PRINTERS_H_
