// cutoverctl: the cutover admin CLI. See cli/commands.h.
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  return cutover::cli::Run(argc, argv, std::cout, std::cerr);
}
