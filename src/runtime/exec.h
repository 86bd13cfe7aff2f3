/* `frost __exec`: the first thing an instance runs. Frost spawns its own
 * binary with this hidden subcommand so that everything that must happen
 * inside the new process, after fork and before the function's command,
 * happens in plain sequential code:
 *
 *   frost __exec [--cgroup PROCS_FILE]... [--uid N --gid N] [--cwd DIR]
 *                [--nofile N] -- COMMAND [ARG]...
 *
 * In order: join the instance's cgroups (write our pid to each procs file),
 * become a session leader (so the instance's processes share one group),
 * drop supplementary groups then gid then uid, ask to be killed with our
 * parent (PR_SET_PDEATHSIG; after the uid change, which would clear it), set
 * PR_SET_NO_NEW_PRIVS, close every inherited fd above 2, change to the code
 * directory, exec the command (PATH lookup).
 * The environment is the one Frost passed in.
 *
 * Failures print one line "frost-exec: <step>: <reason>" to stderr (which is
 * the instance log) and exit with RT_EXEC_FAILED, so the runtime can tell a
 * failed start from a function that exited. */
#ifndef FROST_RUNTIME_EXEC_H
#define FROST_RUNTIME_EXEC_H

#define RT_EXEC_FAILED   121 /* exit code: set-up before exec failed */
#define RT_EXEC_NOTFOUND 127 /* exit code: the command was not found */

int rt_exec_main(int argc, char **argv);

#endif
