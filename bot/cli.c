#include "bot/cli.h"

#include <stdio.h>
#include <string.h>

#include "bot/t0.h"

int cli_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "version") == 0) {
		printf("tier0 %s\n", T0_VERSION);
		return T0_EXIT_OK;
	}
	fprintf(stderr, "usage: tier0 <command> [options]\n");
	return T0_EXIT_USAGE;
}
