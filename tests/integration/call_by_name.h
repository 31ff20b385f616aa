// CallByName: one unary gRPC call by method path with raw request bytes,
// for methods no generated stub ships with (Debian has no health stub), for
// calling a method whatever its messages (the auth tests, bytes that are
// no message at all), and for the benchmarks, which send a request
// serialized once. StreamByName: the same for a streaming method.
#ifndef CUTOVER_TESTS_INTEGRATION_CALL_BY_NAME_H_
#define CUTOVER_TESTS_INTEGRATION_CALL_BY_NAME_H_

#include <string>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"

namespace cutover::testing {

// Calls `method` ("/package.Service/Method") with `request` and waits for
// the answer: its status, and the response's bytes in `response` when not
// null. With `deadline_seconds` > 0 the call has that deadline (and the wait
// a second bound a few seconds later, after which the call is cancelled);
// 0 means no deadline and an unbounded wait (the instruction counts of
// cost_bench are taken that way).
grpc::Status CallByName(grpc::GenericStub& stub, const std::string& method,
                        const grpc::ByteBuffer& request,
                        grpc::ByteBuffer* response, double deadline_seconds);

// Calls `method` with `request` as the call's one message whatever the
// method's kind (for a server-streaming one such as Watch too), reads and
// drops every response, and waits for the status the server ends the call
// with. `deadline_seconds` as for CallByName, but must be > 0: a stream
// the server keeps open ends at the deadline (DEADLINE_EXCEEDED).
grpc::Status StreamByName(grpc::GenericStub& stub, const std::string& method,
                          const grpc::ByteBuffer& request,
                          double deadline_seconds);

// An empty request message (zero bytes: every field unset).
grpc::ByteBuffer EmptyRequest();

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_CALL_BY_NAME_H_
