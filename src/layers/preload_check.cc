#include "layers/preload_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <variant>

#include "common/status.h"
#include "common/unique_fd.h"
#include "runtime/runtime_env.h"

namespace kiln::layers {
namespace {

namespace fs = std::filesystem;

// argv/envp for exec: built before fork, as the child may only call async-signal-safe
// functions.
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The first line a child wrote on its stdout, and how it ended.
struct LineRun {
  std::optional<std::string> line;  // without its newline
  int wait_status = 0;              // as waitpid reports it
  bool timed_out = false;
};
constexpr size_t kLineCap = 64 << 10;

// Runs argv with exactly `env`, stdin and stderr on /dev/null, in a process group of its
// own, until it writes a line on stdout, closes it, or `timeout` passes; then kills the
// group, so nothing the child started (a process holding the pipe) outlives the run.
Result<LineRun> RunForLine(const std::vector<std::string>& args, const std::vector<std::string>& env,
                           std::chrono::milliseconds timeout) {
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null.valid()) return ErrnoStatus("open(/dev/null)");
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  std::vector<char*> argv = CStrings(args), envp = CStrings(env);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {
    setpgid(0, 0);
    dup2(null.get(), 0);
    dup2(wr.get(), 1);
    dup2(null.get(), 2);
    close_range(3, ~0U, 0);  // no descriptor of the daemon (its port, its database)
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // on both sides: the group exists before the kill below
  wr.reset();
  LineRun run;
  std::string output;
  int poll_errno = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (!run.line && output.size() < kLineCap) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd pfd{rd.get(), POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      poll_errno = errno;
      break;
    }
    if (ready == 0) continue;
    const ssize_t n = read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
    if (const size_t end = output.find('\n'); end != std::string::npos) run.line = output.substr(0, end);
  }
  kill(-pid, SIGKILL);
  while (waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
  }
  if (poll_errno != 0) return ErrnoStatus("poll", poll_errno);
  return run;
}

// Imports one module as a zygote would (python/ first on sys.path, its .pth files
// honoured, as the runtime's bootstrap does) and reports, as one JSON line on the
// descriptor that was fd 1 at start, the import's time or its error, then the threads,
// sockets and child processes the process holds. What the module prints goes to
// /dev/null; os._exit keeps threads it left running from holding up the end.
constexpr const char* kImportCheckScript = R"py(
import importlib, json, os, site, sys, time
site_dir, name = sys.argv[1], sys.argv[2]
report = os.dup(1)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 1)
os.dup2(null, 2)
sys.path.insert(0, site_dir)
site.addsitedir(site_dir)
result = {}
started = time.perf_counter()
try:
    importlib.import_module(name)
    result["import_ms"] = (time.perf_counter() - started) * 1000.0
except BaseException as e:
    first = (str(e).strip().splitlines() or [""])[0]
    result["error"] = (type(e).__name__ + (": " + first if first else ""))[:200]
def target(fd):
    try:
        return os.readlink("/proc/self/fd/" + fd)
    except OSError:
        return ""
def children(task):
    try:
        with open("/proc/self/task/%s/children" % task) as f:
            return len(f.read().split())
    except OSError:
        return 0
tasks = os.listdir("/proc/self/task")
result["threads"] = len(tasks)
result["sockets"] = sum(target(fd).startswith("socket:") for fd in os.listdir("/proc/self/fd"))
result["processes"] = sum(children(task) for task in tasks)
os.write(report, (json.dumps(result) + "\n").encode())
os._exit(0)
)py";

constexpr std::chrono::seconds kImportCheckTimeout{60};

// Why a top-level name is not imported ahead, decided without importing it.
std::optional<std::string> SkipReason(const std::string& module) {
  constexpr std::array<std::string_view, 5> kPackaging = {"pip", "setuptools", "pkg_resources", "wheel",
                                                          "distutils"};
  constexpr std::array<std::string_view, 6> kNotLibraries = {"test", "tests", "testing",
                                                             "docs", "examples", "benchmarks"};
  auto listed = [&](const auto& names) { return std::find(names.begin(), names.end(), module) != names.end(); };
  auto word_char = [](unsigned char c) { return std::isalnum(c) || c == '_'; };
  if (module.starts_with("_")) return "private module";
  // A folder such as numpy.libs: importing that name would import numpy instead.
  if (module.empty() || std::isdigit(static_cast<unsigned char>(module[0])) ||
      !std::all_of(module.begin(), module.end(), word_char)) {
    return "not an importable name";
  }
  if (listed(kPackaging)) return "packaging tool: not imported ahead";
  if (listed(kNotLibraries)) return "not a library";
  return std::nullopt;
}

// An import check's environment: what a container gets (its PATH, the layer's lib/ and
// bin/, one thread per native pool) and a scratch home, nothing of the daemon's own.
std::vector<std::string> ImportCheckEnv(const std::string& staging, const std::string& home) {
  std::error_code ec;
  std::string path = "PATH=/usr/local/bin:/usr/bin:/bin";
  if (fs::is_directory(staging + "/bin", ec)) path += ":" + staging + "/bin";
  std::vector<std::string> env = runtime::InterpreterEnv();
  env.insert(env.end(), {path, "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8"});
  if (fs::is_directory(staging + "/lib", ec)) env.push_back("LD_LIBRARY_PATH=" + staging + "/lib");
  return env;
}

using Verdict = std::variant<PreloadModule, SkippedModule>;

// Reads an import check's report: preloadable, or why not.
Verdict Judge(const std::string& module, const LineRun& run) {
  auto skipped = [&](std::string reason) -> Verdict { return SkippedModule{module, std::move(reason)}; };
  const auto report = run.line ? nlohmann::json::parse(*run.line, nullptr, false) : nlohmann::json();
  if (!report.is_object()) {
    if (run.timed_out) {
      return skipped("import took longer than " + std::to_string(kImportCheckTimeout.count()) + " s");
    }
    return skipped(WIFSIGNALED(run.wait_status)
                       ? "the interpreter was killed by signal " + std::to_string(WTERMSIG(run.wait_status)) +
                             " during import"
                       : "the interpreter exited with status " + std::to_string(WEXITSTATUS(run.wait_status)) +
                             " during import");
  }
  if (report.contains("error")) return skipped("import failed: " + report.value("error", std::string()));
  const int64_t threads = report.value("threads", int64_t{1}) - 1;
  const int64_t processes = report.value("processes", int64_t{0});
  const int64_t sockets = report.value("sockets", int64_t{0});
  std::string reason;
  auto note = [&](int64_t count, const std::string& what) {
    if (count > 0) reason += (reason.empty() ? "" : "; ") + what;
  };
  note(threads, "started " + std::to_string(threads) + " thread(s) at import");
  note(processes, "started " + std::to_string(processes) + " process(es) at import");
  note(sockets, "opened " + std::to_string(sockets) + " socket(s) at import");
  if (!reason.empty()) return skipped(std::move(reason));
  return PreloadModule{module, report.value("import_ms", 0.0)};
}

Verdict CheckImport(const std::string& python, const std::string& site, const std::string& module,
                    const std::vector<std::string>& env) {
  if (auto reason = SkipReason(module)) return SkippedModule{module, std::move(*reason)};
  auto run = RunForLine({python, "-I", "-S", "-c", kImportCheckScript, site, module}, env, kImportCheckTimeout);
  if (!run.ok()) return SkippedModule{module, "the import check could not run: " + run.status().message()};
  return Judge(module, *run);
}

// Which top-level modules a zygote may import ahead (issue #7): those that, imported
// alone in a fresh interpreter, succeed and leave one thread, no child process and no
// socket behind, as a fork carries neither a thread nor, safely, a connection into its
// children. Two checks run at a time (a small node's cores); the lists keep the
// modules' order.
}  // namespace

void DescribePreload(const std::string& python, const std::string& staging, LayerVersion& layer) {
  // Beside the tree, not in it (the layer stays as given); a dot name: swept at start.
  const std::string home = staging + ".home";
  std::error_code ec;
  fs::create_directories(home, ec);
  const std::vector<std::string> env = ImportCheckEnv(staging, home);
  std::vector<Verdict> verdicts(layer.modules.size());
  std::atomic<size_t> next = 0;
  auto work = [&] {
    for (size_t i = next++; i < verdicts.size(); i = next++) {
      verdicts[i] = CheckImport(python, staging + "/python", layer.modules[i], env);
    }
  };
  {
    std::jthread helper(work);
    work();
  }
  fs::remove_all(home, ec);
  layer.preload.clear();
  layer.not_preloaded.clear();
  for (auto& v : verdicts) {
    if (auto* preloadable = std::get_if<PreloadModule>(&v)) {
      layer.preload.push_back(std::move(*preloadable));
    } else {
      layer.not_preloaded.push_back(std::get<SkippedModule>(std::move(v)));
    }
  }
}


}  // namespace kiln::layers
