// Test utility: runs checks in a forked child. gtest assertions do not cross fork,
// so a child writes one line per expectation that failed to a pipe and exits; the
// test expects an empty report. The test binaries are single-threaded when they
// fork, so the child may call snprintf.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace kiln::sandbox::test_util {

class ChildChecks {
 public:
  explicit ChildChecks(int fd) : fd_(fd) {}

  void Expect(bool ok, const char* what) {
    if (!ok) Report("%s", what);
  }
  void ExpectOk(long rc, const char* what) {
    if (rc < 0) Report("%s: failed with %s", what, strerrorname_np(errno));
  }
  void ExpectErrno(long rc, int want, const char* what) {
    int got = errno;
    if (rc != -1) {
      Report("%s: returned %ld; want %s", what, rc, strerrorname_np(want));
    } else if (got != want) {
      Report("%s: failed with %s; want %s", what, strerrorname_np(got), strerrorname_np(want));
    }
  }

  __attribute__((format(printf, 2, 3))) void Report(const char* format, ...) {
    char line[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    n = std::min<int>(n, sizeof line - 2);
    line[n] = '\n';
    (void)!write(fd_, line, n + 1);
  }

 private:
  int fd_;
};

struct ChildOutcome {
  std::string failures;
  int wait_status = 0;
};

template <typename Body>
ChildOutcome RunInChild(Body body) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {"pipe2 failed", 0};
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    ChildChecks checks(pipe_fds[1]);
    body(checks);
    _exit(0);
  }
  close(pipe_fds[1]);
  ChildOutcome outcome;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    outcome.failures.append(buffer, n);
  close(pipe_fds[0]);
  waitpid(pid, &outcome.wait_status, 0);
  return outcome;
}

// The failures, and a line when the child did not exit with status 0.
inline std::string ReportOf(const ChildOutcome& outcome) {
  std::string report = outcome.failures;
  if (!WIFEXITED(outcome.wait_status) || WEXITSTATUS(outcome.wait_status) != 0) {
    report += "child did not exit cleanly\n";
  }
  return report;
}

}  // namespace kiln::sandbox::test_util
