/*
 * version.c — parc_version(): the version libparc was built with, so a
 * program can tell the header it was compiled against (PARC_VERSION_STRING)
 * from the library it runs with.
 */
#include "parc.h"

const char *parc_version(void) { return PARC_VERSION_STRING; }
