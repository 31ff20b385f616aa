#include "rpc/pem_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace cutover {

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* option) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": cannot read ", path));
  }
  return text.str();
}

}  // namespace cutover
