// Waking a listener that polls: one TCP connection opened and closed at
// once. The metrics endpoint's web server (civetweb) looks at its socket in
// 2 s steps and stopping it waits for the next look; a knock makes it look
// now (PrometheusMetrics::StopServing).
//
// Stateless functions; thread-safe.
#ifndef CUTOVER_SERVER_LISTENER_KNOCK_H_
#define CUTOVER_SERVER_LISTENER_KNOCK_H_

#include <string>

namespace cutover {

// The host part of a listen address "host:port" ("[::1]:9" -> "::1") as a
// client can connect to it: a wildcard address becomes loopback.
std::string KnockableHost(const std::string& listen);

// Opens and closes one TCP connection to `host`:`port` (numeric host
// only); failures are ignored (nothing listening needs no waking).
void KnockOnce(const std::string& host, int port);

}  // namespace cutover

#endif  // CUTOVER_SERVER_LISTENER_KNOCK_H_
