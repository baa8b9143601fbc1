// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "cli.h"

int cmd_serve(int argc, char **argv)
{
	ph_err("'serve' is not implemented yet");
	return PH_EXIT_ERR;
}
