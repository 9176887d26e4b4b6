// Process-control calls that Swift cannot make directly: prctl is variadic, and
// posix_spawn_file_actions_addclosefrom_np needs _GNU_SOURCE, which this C file defines.
#ifndef APERTURE_CPROCESSSUPPORT_H
#define APERTURE_CPROCESSSUPPORT_H

#include <sys/types.h>

/// Asks the kernel to send `signal` to the calling process when its parent thread exits
/// (prctl(PR_SET_PDEATHSIG), which is variadic). Returns 0 or -1 with errno set.
int aperture_set_parent_death_signal(int signal);

/// Spawns `path` with `argv` and `envp` (both NULL-terminated) through posix_spawn:
/// - in a new process group of its own (so a terminal's Ctrl-C reaches only the supervisor,
///   which then stops its children in order);
/// - with every signal at its default disposition and an empty signal mask (the parent
///   ignores SIGTERM/SIGINT to handle them itself, and ignored dispositions survive exec);
/// - stdin from /dev/null; stdout and stderr inherited;
/// - `lifeline_fd`, when >= 0, duplicated onto descriptor 3 (the read end of a pipe whose
///   write end only the parent holds: EOF means the parent is gone), every other descriptor
///   above 2 closed.
/// Returns 0 and stores the pid, or an errno value.
int aperture_spawn(const char *path, char *const argv[], char *const envp[],
                   int lifeline_fd, pid_t *pid_out);

/// Creates a pipe whose both ends are close-on-exec (pipe2, which needs _GNU_SOURCE), so that
/// no other child inherits them. Returns 0 or -1 with errno set.
int aperture_cloexec_pipe(int fds[2]);

#endif
