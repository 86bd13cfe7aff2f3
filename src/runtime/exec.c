#include "runtime/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CGROUPS 8

static int fail(const char *step, const char *what)
{
    fprintf(stderr, "frost-exec: %s: %s\n", step, what);
    return RT_EXEC_FAILED;
}

static int fail_errno(const char *step, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s%s%s", arg ? arg : "", arg ? ": " : "", strerror(errno));
    return fail(step, msg);
}

static int parse_id(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > INT_MAX)
        return -1;
    *out = v;
    return 0;
}

static int join_cgroup(const char *procs)
{
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    ssize_t w = write(fd, pid, (size_t)n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == n ? 0 : -1;
}

static void close_inherited(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
}

int rt_exec_main(int argc, char **argv)
{
    const char *cgroups[MAX_CGROUPS];
    int n_cgroups = 0;
    long uid = -1, gid = -1, nofile = 0;
    const char *cwd = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            return fail("arguments", "option without a value");
        const char *v = argv[++i];
        if (strcmp(a, "--cgroup") == 0) {
            if (n_cgroups == MAX_CGROUPS)
                return fail("arguments", "too many --cgroup");
            cgroups[n_cgroups++] = v;
        } else if (strcmp(a, "--uid") == 0) {
            if (parse_id(v, &uid) < 0)
                return fail("arguments", "bad --uid");
        } else if (strcmp(a, "--gid") == 0) {
            if (parse_id(v, &gid) < 0)
                return fail("arguments", "bad --gid");
        } else if (strcmp(a, "--nofile") == 0) {
            if (parse_id(v, &nofile) < 0)
                return fail("arguments", "bad --nofile");
        } else if (strcmp(a, "--cwd") == 0) {
            cwd = v;
        } else {
            return fail("arguments", a);
        }
    }
    if (i >= argc)
        return fail("arguments", "no command after --");
    if ((uid < 0) != (gid < 0))
        return fail("arguments", "--uid and --gid go together");

    /* The cgroup first: everything below, and every process the command
     * forks, is then accounted and limited from the start. */
    for (int k = 0; k < n_cgroups; k++) {
        if (join_cgroup(cgroups[k]) < 0)
            return fail_errno("joining cgroup", cgroups[k]);
    }
    if (setsid() < 0)
        return fail_errno("setsid", NULL);
    pid_t parent = getppid();
    if (nofile > 0) {
        struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return fail_errno("RLIMIT_NOFILE", NULL);
    }
    if (gid >= 0) {
        if (setgroups(0, NULL) < 0)
            return fail_errno("setgroups", NULL);
        if (setgid((gid_t)gid) < 0)
            return fail_errno("setgid", NULL);
        if (setuid((uid_t)uid) < 0)
            return fail_errno("setuid", NULL);
        /* Paranoia: a dropped root must not be able to come back. */
        if (uid != 0 && setuid(0) == 0)
            return fail("setuid", "could regain root after dropping it");
    }
    /* After the uid change: changing credentials clears the death signal. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        return fail_errno("PR_SET_PDEATHSIG", NULL);
    if (getppid() != parent)
        return fail("start", "frost exited while the instance was starting");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail_errno("PR_SET_NO_NEW_PRIVS", NULL);
    close_inherited();
    if (cwd && chdir(cwd) < 0)
        return fail_errno("chdir", cwd);
    execvp(argv[i], argv + i);
    int e = errno;
    fprintf(stderr, "frost-exec: exec %s: %s\n", argv[i], strerror(e));
    return e == ENOENT ? RT_EXEC_NOTFOUND : RT_EXEC_FAILED;
}
