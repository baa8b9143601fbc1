// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "cli.h"

int cmd_record(int argc, char **argv)
{
	ph_err("'record' is not implemented yet");
	return PH_EXIT_ERR;
}
