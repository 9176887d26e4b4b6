#include "CProcessSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <unistd.h>

int aperture_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

int aperture_spawn(const char *path, char *const argv[], char *const envp[],
                   int lifeline_fd, pid_t *pid_out) {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    int rc = posix_spawnattr_init(&attr);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        posix_spawnattr_destroy(&attr);
        return rc;
    }

    sigset_t defaults, mask;
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    sigemptyset(&mask);

    // A lifeline already sitting on descriptor 3 would keep its close-on-exec flag through
    // dup2(3, 3) on older C libraries; move it out of the way first.
    int moved_fd = -1;
    if (lifeline_fd == 3) {
        moved_fd = fcntl(lifeline_fd, F_DUPFD_CLOEXEC, 10);
        if (moved_fd < 0) {
            rc = errno;
            goto done;
        }
        lifeline_fd = moved_fd;
    }

    if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                  POSIX_SPAWN_SETSIGMASK)) != 0) goto done;
    if ((rc = posix_spawnattr_setpgroup(&attr, 0)) != 0) goto done;
    if ((rc = posix_spawnattr_setsigdefault(&attr, &defaults)) != 0) goto done;
    if ((rc = posix_spawnattr_setsigmask(&attr, &mask)) != 0) goto done;

    if ((rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)) != 0) goto done;
    if (lifeline_fd >= 0) {
        if ((rc = posix_spawn_file_actions_adddup2(&actions, lifeline_fd, 3)) != 0) goto done;
        if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 4)) != 0) goto done;
    } else {
        if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0) goto done;
    }

    rc = posix_spawn(pid_out, path, &actions, &attr, argv, envp);

done:
    if (moved_fd >= 0) close(moved_fd);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int aperture_cloexec_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
