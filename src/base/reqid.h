/* Request ids in FC's shape: "1-<8 hex: wall seconds>-<8 hex: node>-<12 hex: counter>".
 * Unique per process without coordination (node part seeded from getrandom);
 * cheap enough to make one per request. Loop thread only (no locking). */
#ifndef FROST_BASE_REQID_H
#define FROST_BASE_REQID_H

#include <stddef.h>

#define REQID_LEN 32 /* characters, without the NUL */

/* Writes a new id and a NUL into out (at least REQID_LEN + 1 bytes). */
void reqid_new(char *out);

#endif
