#include "server/config.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "yaml/yaml_message.h"

namespace cutover {
namespace {

namespace pb = config::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status Broken(const std::string& path, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", rule));
}

// "reader, operator or admin": the values of an enum that may be written.
std::string EnumChoices(const google::protobuf::EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) {
      names.push_back(absl::AsciiStrToLower(type->value(i)->name()));
    }
  }
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

bool IsIntegral(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

// The value of a singular number field, or false if it is not a number.
bool NumberOf(const Message& message, const FieldDescriptor* field,
              double* value) {
  const Reflection* r = message.GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      *value = r->GetInt32(message, field);
      return true;
    case FieldDescriptor::CPPTYPE_INT64:
      *value = static_cast<double>(r->GetInt64(message, field));
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      *value = r->GetUInt32(message, field);
      return true;
    case FieldDescriptor::CPPTYPE_UINT64:
      *value = static_cast<double>(r->GetUInt64(message, field));
      return true;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      *value = r->GetDouble(message, field);
      return true;
    case FieldDescriptor::CPPTYPE_FLOAT:
      *value = r->GetFloat(message, field);
      return true;
    default:
      return false;
  }
}

// A bound as the rule's message shows it: "1000000" for an integer field,
// "0.01" for a double.
std::string BoundText(const FieldDescriptor* field, double bound) {
  return IsIntegral(field) ? absl::StrCat(static_cast<int64_t>(bound))
                           : absl::StrCat(bound);
}

// One field's (rule) option.
absl::Status CheckRule(const Message& message, const FieldDescriptor* field,
                       const pb::Rule& rule, const std::string& path) {
  const Reflection* r = message.GetReflection();
  if (field->is_repeated()) {
    return absl::InternalError(absl::StrCat(path, ": a rule on a list"));
  }
  if (rule.required()) {
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (r->GetString(message, field).empty()) {
        return Broken(path, "required");
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      if (!r->HasField(message, field) || r->GetEnumValue(message, field) == 0) {
        return Broken(path, absl::StrCat("required (",
                                         EnumChoices(field->enum_type()), ")"));
      }
    } else {
      return absl::InternalError(
          absl::StrCat(path, ": 'required' on neither text nor an enum"));
    }
  }
  if (rule.has_min() || rule.has_max()) {
    double value;
    if (!NumberOf(message, field, &value)) {
      return absl::InternalError(absl::StrCat(path, ": a range on no number"));
    }
    if ((rule.has_min() && value < rule.min()) ||
        (rule.has_max() && value > rule.max())) {
      if (!rule.has_max()) {
        return Broken(path, absl::StrCat("must be >= ",
                                         BoundText(field, rule.min())));
      }
      if (!rule.has_min()) {
        return Broken(path, absl::StrCat("must be <= ",
                                         BoundText(field, rule.max())));
      }
      return Broken(path, absl::StrCat("must be in [",
                                       BoundText(field, rule.min()), ", ",
                                       BoundText(field, rule.max()), "]"));
    }
  }
  return absl::OkStatus();
}

// Every (rule) option of `message` and the messages in it, in field order.
absl::Status CheckRules(const Message& message, const std::string& path) {
  const auto* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string field_path =
        path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    if (field->options().HasExtension(pb::rule)) {
      absl::Status s = CheckRule(message, field,
                                 field->options().GetExtension(pb::rule),
                                 field_path);
      if (!s.ok()) return s;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        absl::Status s = CheckRules(r->GetRepeatedMessage(message, field, j),
                                    absl::StrCat(field_path, "[", j, "]"));
        if (!s.ok()) return s;
      }
    } else if (r->HasField(message, field)) {
      absl::Status s = CheckRules(r->GetMessage(message, field), field_path);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

Role ToRole(pb::Role role) {
  switch (role) {
    case pb::OPERATOR:
      return Role::kOperator;
    case pb::ADMIN:
      return Role::kAdmin;
    default:
      return Role::kReader;
  }
}

// The one place that maps the proto onto the struct.
void Fill(const pb::DaemonConfig& from, DaemonConfig* to) {
  to->data_dir = from.data_dir();
  to->listen = from.listen();
  to->flagd_evaluation_listen = from.flagd_evaluation_listen();
  to->flagd_sync_listen = from.flagd_sync_listen();
  to->metrics_listen = from.metrics_listen();
  to->ready_file = from.ready_file();
  to->heartbeat_interval = absl::Seconds(from.heartbeat_seconds());
  to->shutdown_grace = absl::Seconds(from.shutdown_grace_seconds());
  to->max_batch = from.max_batch();
  to->max_request_bytes = from.max_request_bytes();
  to->watch_history = from.watch_history();
  to->telemetry_window = absl::Seconds(from.telemetry_window_seconds());
  to->telemetry_slots = from.telemetry_slots();
  to->max_watch_streams_per_peer = from.max_watch_streams_per_peer();
  to->prometheus_url = from.prometheus_url();
  to->prometheus_query_timeout =
      absl::Seconds(from.prometheus_query_timeout_seconds());

  AuthConfig& auth = to->auth;
  auth.enabled = from.auth() != pb::NONE;
  auth.tokens.clear();
  for (const pb::Token& token : from.tokens()) {
    auth.tokens.push_back(
        {token.name(), ToRole(token.role()), token.sha256(), token.env()});
  }
  auth.token_file = from.token_file();
  auth.cert_roles.clear();
  for (const pb::CertRole& cert : from.cert_roles()) {
    auth.cert_roles.push_back({cert.common_name(), ToRole(cert.role())});
  }
  auth.open_evaluation = from.open_evaluation();

  to->tls.cert_file = from.tls().cert_file();
  to->tls.key_file = from.tls().key_file();
  to->tls.client_ca_file = from.tls().client_ca_file();
  to->follow = from.follow();
  to->follow_token_file = from.follow_token_file();
  to->follow_ca_file = from.follow_ca_file();
}

}  // namespace

DaemonConfig::DaemonConfig() {
  Fill(pb::DaemonConfig::default_instance(), this);
}

DaemonConfig ToDaemonConfig(const pb::DaemonConfig& config) {
  DaemonConfig daemon_config;
  Fill(config, &daemon_config);
  return daemon_config;
}

absl::StatusOr<pb::DaemonConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("config ", path, ": cannot read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  pb::DaemonConfig config;
  absl::Status status = YamlToMessage(text.str(), &config);
  if (status.ok()) status = ValidateConfig(config);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path, ": ", status.message()));
  }
  return config;
}

absl::Status ValidateConfig(const pb::DaemonConfig& config) {
  if (absl::Status s = CheckRules(config, ""); !s.ok()) return s;
  // The rules between fields.
  const pb::Tls& tls = config.tls();
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return Broken("tls", "cert_file and key_file go together");
  }
  if (!tls.client_ca_file().empty() && tls.cert_file().empty()) {
    return Broken("tls.client_ca_file", "needs tls.cert_file and tls.key_file");
  }
  if (config.cert_roles_size() > 0 && tls.client_ca_file().empty()) {
    return Broken("cert_roles", "need tls.client_ca_file (mutual TLS)");
  }
  if (config.follow().empty()) {
    if (!config.follow_token_file().empty()) {
      return Broken("follow_token_file", "needs follow (a replica's setting)");
    }
    if (!config.follow_ca_file().empty()) {
      return Broken("follow_ca_file", "needs follow (a replica's setting)");
    }
  } else if (config.follow().rfind(':') == std::string::npos) {
    return Broken("follow", "must be host:port (e.g. cutover-primary:7400)");
  }
  if (const std::string& url = config.prometheus_url();
      !url.empty() &&
      ((!absl::StartsWith(url, "http://") &&
        !absl::StartsWith(url, "https://")) ||
       absl::StrContains(url, "?") || absl::StrContains(url, "#"))) {
    return Broken("prometheus_url",
                  absl::StrCat("must be an http:// or https:// address with "
                               "no query string, got '",
                               url, "'"));
  }
  for (const auto& [name, address] :
       {std::pair<const char*, const std::string*>{"listen", &config.listen()},
        {"flagd_evaluation_listen", &config.flagd_evaluation_listen()},
        {"flagd_sync_listen", &config.flagd_sync_listen()}}) {
    if (config.auth() != pb::NONE || config.insecure_listen() ||
        address->empty() || IsLoopbackAddress(*address)) {
      continue;
    }
    return Broken(
        name,
        absl::StrCat(*address,
                     " is not a loopback address and auth is none: anyone "
                     "who can reach it could change every flag; configure "
                     "tokens, or add --insecure-listen if this is really "
                     "wanted"));
  }
  return absl::OkStatus();
}

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" ||
         absl::StartsWith(host, "127.");
}

}  // namespace cutover
