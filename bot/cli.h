/* Command line: subcommands, their --help, exit statuses 0 / 1 / 2. */
#ifndef T0_CLI_H
#define T0_CLI_H

int cli_main(int argc, char **argv);

#endif
