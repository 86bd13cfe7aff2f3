/* frost: subcommand dispatch only. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/exec.h"

static const char usage[] =
    "frost " FROST_VERSION " - a self-hosted serverless GPU function platform\n"
    "\n"
    "Usage: frost <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve      run the Frost server (HTTP API, scheduler, instances)\n"
    "  deploy     create or update the functions of a Serverless Devs s.yaml\n"
    "  function   list, get or remove functions\n"
    "  provision  put, get, list or remove provision configs\n"
    "  invoke     call a function and print its answer\n"
    "  instance   list a function's instances\n"
    "  logs       print what a function's instances wrote (-f to follow)\n"
    "  task       list, get or stop async tasks (frost invoke --async submits them)\n"
    "  bill       usage and cost per function, beside dedicated GPU cards\n"
    "  top        a live view of functions, instances, GPUs and cost\n"
    "  version    print the version\n"
    "  help       show this help, or `frost help <command>`\n"
    "\n"
    "Run `frost <command> --help` for the options of a command.\n";

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
};

/* clang-format off */
static const struct cmd cmds[] = {
    {"serve", cli_serve},
    {"deploy", cli_deploy},
    {"function", cli_function},
    {"provision", cli_provision},
    {"invoke", cli_invoke},
    {"instance", cli_instance},
    {"logs", cli_logs},
    {"task", cli_task},
    {"bill", cli_bill},
    {"top", cli_top},
};
/* clang-format on */

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *name = argv[1];
    /* Hidden: how instances start (see runtime/exec.h). */
    if (strcmp(name, "__exec") == 0)
        return rt_exec_main(argc - 1, argv + 1);
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("frost %s\n", FROST_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                if (strcmp(argv[2], cmds[i].name) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return cmds[i].fn(2, sub);
                }
            }
            fprintf(stderr, "frost: unknown command \"%s\"; see `frost --help`\n", argv[2]);
            return 2;
        }
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(name, cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "frost: unknown command \"%s\"; see `frost --help`\n", name);
    return 2;
}
