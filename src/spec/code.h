/* Function code packages: the base64 zip of code.zipFile, stored
 * content-addressed and unpacked.
 *
 *   <code_dir>/<sha256>.zip   the zip as uploaded
 *   <code_dir>/<sha256>/      its unpacked tree (directories 0755, files 0644
 *                             or 0755, symlinks kept when they stay inside)
 *
 * Both appear atomically (written under a ".tmp-" name, synced, renamed), so
 * a reader that sees them sees them complete; identical uploads share them.
 * Leftover ".tmp-*" entries after a crash are garbage anyone may remove.
 *
 * The functions block on disk I/O and CPU (decompression): call them from a
 * worker thread (libuv's thread pool), never the loop thread. They keep no
 * global state, so any number may run at once, also for the same content. */
#ifndef FROST_SPEC_CODE_H
#define FROST_SPEC_CODE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

/* Function Compute's limit for a package uploaded inline with the API. */
#define SPEC_CODE_DEFAULT_MAX_ZIP_BYTES      (100ull << 20)
#define SPEC_CODE_DEFAULT_MAX_UNPACKED_BYTES (512ull << 20)
#define SPEC_CODE_DEFAULT_MAX_ENTRIES        100000

/* Limits applied to one package; a zero field means its default. */
struct spec_code_limits {
    uint64_t max_zip_bytes;      /* the decoded zip */
    uint64_t max_unpacked_bytes; /* the sum of file sizes after unpacking */
    uint64_t max_entries;        /* files, directories and symlinks in the zip */
};

struct spec_code_info {
    char checksum[65];      /* lowercase hex SHA-256 of the zip (codeChecksum) */
    uint64_t zip_size;      /* bytes of the decoded zip (codeSize) */
    uint64_t unpacked_size; /* bytes of file contents and symlink targets */
    uint64_t entries;       /* entries in the zip */
    char zip_path[PATH_MAX];
    char path[PATH_MAX]; /* the unpacked tree */
};

/* Decodes b64 (strict base64 of a zip), checks it, and makes sure
 * <code_dir>/<checksum>.zip and <code_dir>/<checksum>/ exist; code_dir is
 * created if missing (its parent must exist). lim may be NULL for defaults.
 * When both already exist, only the zip's directory is checked again (the
 * content is the same bytes that passed before) and nothing is written.
 *
 * Problems with the package are 400 InvalidArgument with a message that
 * starts with "code.zipFile: ": not base64; empty; over max_zip_bytes; not a
 * zip or corrupt (bad structure, CRC or data); more than max_entries entries;
 * declared or actual unpacked size over max_unpacked_bytes (counting stops
 * there, so a zip bomb costs at most that much disk); an encrypted entry or
 * an unsupported compression method; an entry name that is absolute, has a
 * ".." component, control characters, or is too long or deep; two entries
 * for the same path, or one that passes through a symlink; a device, FIFO or
 * socket entry; a symlink whose target is absolute, empty, or leaves the tree
 * (".." is allowed only as leading components, no deeper than the link's own
 * directory). I/O failures are 500 InternalError. On any error nothing new is
 * left in code_dir. */
FROST_WUR int spec_code_store(const char *code_dir, const char *b64, size_t b64_len,
                              const struct spec_code_limits *lim, struct spec_code_info *out,
                              struct frost_err *err);

#endif
