// srmds: the command-line tool (SPEC §8). A thin dispatcher: each subcommand lives in its own
// cmd_*.cpp and registers itself through commands.hpp. Exit status: 0 success, 1 error (one line
// `srmds: error: ...` on stderr), 2 bad usage.
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "srmds/core/error.hpp"
#include "srmds/version.hpp"

namespace {
int fail(const std::string& what) {
  std::string line = what;
  for (char& ch : line)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::cerr << "srmds: error: " << line << "\n";
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  srmds::cli::use_passive_openmp_wait(argv);
  CLI::App app{"srmds: SR&MDS-Net for COVID-19 CT lesion segmentation"};
  app.set_version_flag("--version", std::string("srmds ") + srmds::version() + " (" + srmds::backends() + ")");
  app.require_subcommand(1);
  srmds::cli::add_info_command(app);
  srmds::cli::add_fuse_command(app);
  srmds::cli::add_phantom_command(app);
  srmds::cli::add_train_command(app);
  srmds::cli::add_eval_command(app);
  srmds::cli::add_segment_command(app);
  srmds::cli::add_demo_command(app);
  srmds::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // usage errors: one line, exit 2
    fail(e.what());
    return 2;
  } catch (const srmds::Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
