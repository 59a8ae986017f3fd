// srmds: the command-line tool (SPEC §8). A thin dispatcher: each subcommand lives in its own
// cmd_*.cpp and registers itself through commands.hpp. Exit status: 0 success, 1 error (one line
// `srmds: error: ...` on stderr), 2 bad usage: a parse error, an invalid option value (UsageError),
// no subcommand or an unknown one (the message lists the subcommands). SIGINT/SIGTERM/SIGHUP remove
// this run's temporary and uncommitted files before the signal ends the process (io/cleanup.hpp).
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/cleanup.hpp"
#include "srmds/version.hpp"
#include "usage_error.hpp"

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
  srmds::io::install_signal_cleanup();
  srmds::cli::add_info_command(app);
  srmds::cli::add_fuse_command(app);
  srmds::cli::add_phantom_command(app);
  srmds::cli::add_train_command(app);
  srmds::cli::add_eval_command(app);
  srmds::cli::add_segment_command(app);
  srmds::cli::add_demo_command(app);
  srmds::cli::add_bench_command(app);
  srmds::cli::add_export_command(app);
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
  if (argc < 2) {
    fail("no subcommand given; use one of: " + names + " (srmds SUBCOMMAND --help for its options)");
    return 2;
  }
  const std::string first = argv[1];
  if (first.empty() || first[0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == first;
    if (!known) {
      fail("unknown subcommand \"" + first + "\"; use one of: " + names);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // usage errors: one line, exit 2
    fail(e.what());
    return 2;
  } catch (const srmds::RequestError& e) {  // an invalid option value or output name (UsageError is one)
    fail(e.what());
    return 2;
  } catch (const srmds::Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
