// Issue 15 (lost files): atomic writes with hidden temporary names, refusal of targets that are not
// regular files, batches of files that appear together, the signal-time cleanup registry (a child
// killed by SIGTERM leaves no temporary file), and a failing phantom run removing what it wrote.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/cleanup.hpp"

using namespace srmds;
using namespace srmds::io;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

using srmds::test::TempDir;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("atomic write: temporary names are hidden and match no output glob", "[io][atomic]") {
  for (const std::string target : {"out/mask.nii.gz", "ckpt.safetensors", "/x/slice_0001.png", "noext", ".hidden"}) {
    const std::string tmp = atomic_temp_path(target);
    INFO(target << " -> " << tmp);
    const std::string name = fs::path(tmp).filename().string();
    CHECK(name[0] == '.');
    CHECK(fs::path(tmp).parent_path() == fs::path(target).parent_path());
    for (const char* ext : {".nii.gz", ".nii", ".safetensors", ".png"}) CHECK_FALSE(ends_with(tmp, ext));
    CHECK(tmp.find(".srmds-tmp-" + std::to_string(::getpid()) + "-") != std::string::npos);
  }
}

TEST_CASE("atomic write: a target that is not a regular file is refused and left alone", "[io][atomic]") {
  TempDir dir;
  const std::string fifo = dir.file("pipe.nii.gz");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE_THROWS_WITH(write_bytes_atomic(fifo, "x", 1), Contains("pipe.nii.gz") && Contains("a pipe"));
  CHECK(fs::is_fifo(fifo));
  const std::string folder = dir.file("folder.safetensors");
  fs::create_directories(folder);
  REQUIRE_THROWS_WITH(write_bytes_atomic(folder, "x", 1), Contains("a folder"));
  CHECK(fs::is_directory(folder));
  if (::geteuid() == 0) {  // a character device (as /dev/null), created only where we may
    const std::string dev = dir.file("null.nii.gz");
    if (::mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {
      REQUIRE_THROWS_WITH(write_bytes_atomic(dev, "x", 1), Contains("a device"));
      struct stat st {};
      REQUIRE(::stat(dev.c_str(), &st) == 0);
      CHECK(S_ISCHR(st.st_mode));
    }
  }
  CHECK(dir.entries().size() == (::geteuid() == 0 && fs::exists(dir.file("null.nii.gz")) ? 3u : 2u));
  // A link to a regular file is fine (the link is replaced, as by any rename).
  write_bytes_atomic(dir.file("real"), "old", 3);
  fs::create_symlink(dir.file("real"), dir.file("link"));
  write_bytes_atomic(dir.file("link"), "new", 3);
  CHECK(read_text(dir.file("link")) == "new");
}

TEST_CASE("atomic batch: files appear together at commit, or not at all", "[io][atomic]") {
  TempDir dir;
  write_bytes_atomic(dir.file("a.nii.gz"), "old a", 5);
  SECTION("not committed: targets as they were, no temporary file") {
    {
      AtomicBatch batch;
      write_bytes_atomic(dir.file("a.nii.gz"), "new a", 5);
      write_bytes_atomic(dir.file("b.nii.gz"), "new b", 5);
      CHECK(read_text(dir.file("a.nii.gz")) == "old a");
      CHECK_FALSE(fs::exists(dir.file("b.nii.gz")));
      CHECK(dir.entries().size() == 3);  // a and two temporary files
      CHECK(registered_path_count() >= 2);
    }
    CHECK(dir.entries() == std::vector<std::string>{"a.nii.gz"});
    CHECK(read_text(dir.file("a.nii.gz")) == "old a");
  }
  SECTION("a failing write inside the batch") {
    {
      AtomicBatch batch;
      write_bytes_atomic(dir.file("b.nii.gz"), "new b", 5);
      CHECK_THROWS(write_file_atomic(dir.file("c.nii.gz"), [](const std::string& tmp) {
        std::ofstream(tmp) << "half";
        SRMDS_THROW("disk full");
      }));
    }
    CHECK(dir.entries() == std::vector<std::string>{"a.nii.gz"});
  }
  SECTION("committed") {
    AtomicBatch batch;
    write_bytes_atomic(dir.file("a.nii.gz"), "new a", 5);
    write_bytes_atomic(dir.file("b.nii.gz"), "new b", 5);
    batch.commit();
    CHECK(dir.entries() == (std::vector<std::string>{"a.nii.gz", "b.nii.gz"}));
    CHECK(read_text(dir.file("a.nii.gz")) == "new a");
    CHECK(read_text(dir.file("b.nii.gz")) == "new b");
  }
  CHECK(registered_path_count() == 0);
  // Batches end with their scope: a later write is immediate again.
  write_bytes_atomic(dir.file("d"), "d", 1);
  CHECK(fs::exists(dir.file("d")));
}

TEST_CASE("cleanup registry: registered paths are unlinked, released ones kept", "[io][atomic]") {
  TempDir dir;
  for (const char* n : {"x", "y"}) std::ofstream(dir.file(n)) << n;
  {
    CleanupPath x(dir.file("x")), y(dir.file("y"));
    CHECK(x.tracked());
    y.release();
    remove_registered_paths();
  }
  CHECK(dir.entries() == std::vector<std::string>{"y"});
  CHECK(registered_path_count() == 0);
}

TEST_CASE("cleanup registry: SIGTERM during a write removes the temporary file", "[io][atomic][signal]") {
  TempDir dir;
  const std::string target = dir.file("ckpt.safetensors");
  write_bytes_atomic(target, "complete", 8);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    install_signal_cleanup();
    try {
      write_file_atomic(target, [&](const std::string& tmp) {
        std::ofstream(tmp) << "partial";
        const char c = 1;
        if (::write(ready[1], &c, 1) != 1) _exit(3);
        for (;;) ::pause();  // stopped here by the parent's SIGTERM
      });
    } catch (...) {
    }
    _exit(4);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK(dir.entries().size() == 2);  // the checkpoint and the temporary file
  ::kill(child, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
  CHECK(read_text(target) == "complete");
}

TEST_CASE("phantom: a run stopped by a full disk removes the folders it created", "[io][atomic][phantom]") {
  // Forked before this process has used OpenMP (libgomp is not fork-safe after its first parallel region).
  TempDir dir;
  // A full disk (a file size limit, as `ulimit -f`) on the first file: the folders the run created
  // are removed too.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = 2048;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(5);
    try {
      write_phantom_dataset(dir.file("fresh/sub"), 2, 128, 1);
    } catch (const Error&) {
      _exit(0);
    }
    _exit(6);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(fs::exists(dir.file("fresh")));
}

TEST_CASE("phantom: a failing run removes the files and folders it created", "[io][atomic][phantom]") {
  TempDir dir;
  // The second pair's image name is taken by a folder: the run fails after writing the first pair.
  const std::string out = dir.file("new/data");
  fs::create_directories(out + "/phantom_001_image.nii.gz");
  std::ofstream(out + "/mine.txt") << "kept";
  REQUIRE_THROWS_WITH(write_phantom_dataset(out, 3, 16, 1), Contains("phantom_001_image.nii.gz"));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(out)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == (std::vector<std::string>{"mine.txt", "phantom_001_image.nii.gz"}));
}

TEST_CASE("cleanup registry: folders are removed after their files, newest first, only when empty", "[io][atomic]") {
  TempDir dir;
  fs::create_directories(dir.file("a/b"));
  fs::create_directories(dir.file("keep"));
  std::ofstream(dir.file("a/b/tmp")) << "t";
  std::ofstream(dir.file("keep/mine")) << "m";
  {
    CleanupPath a(dir.file("a"), CleanupKind::Folder), b(dir.file("a/b"), CleanupKind::Folder);
    CleanupPath keep(dir.file("keep"), CleanupKind::Folder), tmp(dir.file("a/b/tmp"));
    CHECK(registered_path_count() == 4);
    remove_registered_paths();
  }
  CHECK(dir.entries() == std::vector<std::string>{"keep"});  // a/b/tmp, a/b, a gone; keep holds a file
  CHECK(registered_path_count() == 0);
}

// The signal arrives while a CleanupHold is held (an AtomicBatch's renames) and another thread of
// the process is running: the cleanup waits for the hold, so the file released inside it survives,
// and the process still ends by the signal. (With a handler run by whichever thread takes the
// signal, the other thread removed the file in the middle of the "renames".)
TEST_CASE("cleanup registry: a signal during a CleanupHold waits for it", "[io][atomic][signal]") {
  TempDir dir;
  const std::string out = dir.file("mask.png");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    install_signal_cleanup();
    std::thread other([] { for (;;) ::pause(); });
    other.detach();
    std::ofstream(out) << "complete";
    CleanupPath staged(out);
    {
      CleanupHold hold;
      const char c = 1;
      if (::write(ready[1], &c, 1) != 1) _exit(3);
      ::usleep(300 * 1000);  // the parent's SIGTERM arrives here
      staged.release();     // "renamed": the output is the user's now
    }
    for (;;) ::pause();
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::kill(child, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(dir.entries() == std::vector<std::string>{"mask.png"});
}
