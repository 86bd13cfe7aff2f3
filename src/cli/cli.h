/* frost subcommands. Each takes argv after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status. */
#ifndef FROST_CLI_CLI_H
#define FROST_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_deploy(int argc, char **argv);    /* cli/deploy.c */
int cli_function(int argc, char **argv);  /* cli/function.c */
int cli_provision(int argc, char **argv); /* cli/function.c */
int cli_instance(int argc, char **argv);  /* cli/instance.c */
int cli_logs(int argc, char **argv);      /* cli/instance.c */
int cli_invoke(int argc, char **argv);    /* cli/invoke.c */
int cli_task(int argc, char **argv);      /* cli/task.c */
int cli_bill(int argc, char **argv);      /* cli/bill.c */
int cli_top(int argc, char **argv);       /* cli/top.c */

#define FROST_VERSION "0.1.0"

#endif
