/* frost subcommands. Each takes argv after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status. */
#ifndef FROST_CLI_CLI_H
#define FROST_CLI_CLI_H

int cli_serve(int argc, char **argv);

#define FROST_VERSION "0.1.0"

#endif
