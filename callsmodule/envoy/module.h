// The module's process-wide state, shared by the calls filter (filter.c)
// and the bootstrap extension that serves it on Envoy's admin (admin.c):
// Envoy loads the one file for both, so they see the same globals.
#ifndef MILVUS_EDGE_MODULE_H
#define MILVUS_EDGE_MODULE_H

#include "labels.h"
#include "table.h"

// The users label cap (metrics/labels.go maxUsers).
#define ME_MAX_USERS 1000

me_table *calls_table(void);
me_caps *calls_caps(void);

#endif
