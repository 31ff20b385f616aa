// TLS material read from PEM files, by the daemon (its certificate, key and
// client CA) and by every client (the CA, and a certificate and key for
// mutual TLS).
//
// Pure function of the file system; thread-safe.
#ifndef CUTOVER_RPC_PEM_FILE_H_
#define CUTOVER_RPC_PEM_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace cutover {

// The text of a PEM file (certificate, key, CA) named by the option
// `option` ("tls-ca", "tls.cert_file"): INVALID_ARGUMENT naming the option
// and the path if it cannot be read or is empty.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* option);

}  // namespace cutover

#endif  // CUTOVER_RPC_PEM_FILE_H_
