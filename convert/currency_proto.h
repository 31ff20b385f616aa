// Conversion of a flag's currency (core/model.h Currency and StaleMark) to
// and from its protobuf form. The API (cutover.v1) and the store's own
// format (cutover.storage.v1) declare the same two messages, so one
// template serves both.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_CURRENCY_PROTO_H_
#define CUTOVER_CONVERT_CURRENCY_PROTO_H_

#include <optional>

#include "convert/proto_time.h"
#include "core/model.h"

namespace cutover {

template <typename MarkProto>
void StaleMarkToProto(const StaleMark& mark, MarkProto* out) {
  out->set_since_version(mark.since_version);
  ToProtoTime(mark.since, out->mutable_since_time());
  out->set_why(mark.why);
  if (mark.skipped_until.has_value()) {
    ToProtoTime(*mark.skipped_until, out->mutable_skipped_until());
  }
}

template <typename MarkProto>
StaleMark StaleMarkFromProto(const MarkProto& mark) {
  StaleMark out;
  out.since_version = mark.since_version();
  out.since = FromProtoTime(mark.since_time());
  out.why = mark.why();
  if (mark.has_skipped_until()) {
    out.skipped_until = FromProtoTime(mark.skipped_until());
  }
  return out;
}

// Sets `out`'s currency only when a database is stale.
template <typename FlagProto>
void CurrencyToProto(const Currency& currency, FlagProto* out) {
  if (currency.old_stale.has_value()) {
    StaleMarkToProto(*currency.old_stale,
                     out->mutable_currency()->mutable_old_stale());
  }
  if (currency.new_stale.has_value()) {
    StaleMarkToProto(*currency.new_stale,
                     out->mutable_currency()->mutable_new_stale());
  }
}

template <typename FlagProto>
Currency CurrencyFromProto(const FlagProto& flag) {
  Currency out;
  if (flag.currency().has_old_stale()) {
    out.old_stale = StaleMarkFromProto(flag.currency().old_stale());
  }
  if (flag.currency().has_new_stale()) {
    out.new_stale = StaleMarkFromProto(flag.currency().new_stale());
  }
  return out;
}

}  // namespace cutover

#endif  // CUTOVER_CONVERT_CURRENCY_PROTO_H_
