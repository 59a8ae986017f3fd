#include <iostream>

#include "srmds/version.hpp"

int main() {
  std::cout << "srmds " << srmds::version() << " (" << srmds::backends() << ")\n";
  return 0;
}
