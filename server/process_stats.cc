#include "server/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cutover {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The system boot time (seconds since the epoch), from /proc/stat's btime.
absl::StatusOr<double> BootTimeSeconds() {
  auto stat = ReadFile("/proc/stat");
  if (!stat.ok()) return stat.status();
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double btime = 0;
      if (absl::SimpleAtod(line, &btime)) return btime;
    }
  }
  return absl::UnavailableError("/proc/stat: no btime line");
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats() {
  const std::string proc_dir = "/proc/self";
  auto stat = ReadFile(proc_dir + "/stat");
  if (!stat.ok()) return stat.status();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return absl::UnavailableError(absl::StrCat(proc_dir, "/stat: malformed"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 2), ' ',
                     absl::SkipEmpty());
  // Field numbers of proc(5), minus 3 (pid and comm are gone, 1-based).
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kThreads = 20 - 3,
                   kStartTime = 22 - 3, kVsize = 23 - 3, kRss = 24 - 3;
  if (fields.size() <= kRss) {
    return absl::UnavailableError(absl::StrCat(proc_dir, "/stat: too short"));
  }
  auto number = [&fields](size_t i) {
    uint64_t value = 0;
    return absl::SimpleAtoi(fields[i], &value) ? value : 0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));

  ProcessStats stats;
  stats.cpu_seconds = (number(kUtime) + number(kStime)) / ticks;
  stats.threads = number(kThreads);
  stats.virtual_bytes = number(kVsize);
  stats.resident_bytes = number(kRss) * page;
  auto boot = BootTimeSeconds();
  if (boot.ok()) stats.start_time_seconds = *boot + number(kStartTime) / ticks;

  std::error_code error;
  for (std::filesystem::directory_iterator it(proc_dir + "/fd", error), end;
       !error && it != end; it.increment(error)) {
    stats.open_fds += 1;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.max_fds = limit.rlim_cur;
  return stats;
}

}  // namespace cutover
