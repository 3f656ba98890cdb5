/* cli/convert.c — placeholder until convert/ lands */
#include "cli/cli.h"
const char rk_usage_convert[] = "usage: r1kit convert IN OUT\n";
int rk_cmd_convert(int argc, char **argv) { (void)argc; (void)argv; return 2; }
