/* syncfs and mkostemp are Linux/GNU extensions */
#define _GNU_SOURCE

#include "spec/code.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "base/buf.h"
#include "base/codec.h"

#define MAX_NAME_LEN   4095 /* a whole entry path, PATH_MAX - 1 */
#define MAX_COMPONENT  255  /* NAME_MAX */
#define MAX_DEPTH      128  /* components per entry path */
#define MAX_LINK_LEN   4095
#define COPY_CHUNK     (64u << 10)
#define MSG_NAME_CHARS 160

enum kind { KIND_FILE, KIND_DIR, KIND_LINK };

/* One zip entry after its name and attributes passed the checks. */
struct entry {
    zip_uint64_t index;
    size_t rel_off; /* normalised relative path in the names buffer, NUL-terminated */
    enum kind kind;
    mode_t mode; /* files: 0644 or 0755 */
    uint64_t size;
};

struct pkg {
    zip_t *za;
    struct entry *entries;
    size_t n_entries;
    struct buf names;
    uint64_t declared;
};

__attribute__((format(printf, 2, 3))) static int bad(struct frost_err *err, const char *fmt, ...)
{
    char m[FROST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    return frost_err_set(err, 400, "InvalidArgument", "code.zipFile: %s", m);
}

/* An entry name fit for a message: printable ASCII only, shortened. */
static const char *shown(const char *s, char out[MSG_NAME_CHARS + 4])
{
    size_t i = 0;
    for (; s[i] && i < MSG_NAME_CHARS; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (s[i])
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
    return out;
}

static const char *pkg_rel(const struct pkg *p, const struct entry *e)
{
    return p->names.data + e->rel_off;
}

/* ---- names -------------------------------------------------------------- */

/* Writes the normalised relative path of raw ("\" read as "/", "" and "."
 * components dropped) to names. Returns the number of components (0 for the
 * root itself); *is_dir when the name ends in "/". */
static int normalise_name(const char *raw, struct buf *names, bool *is_dir, struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    size_t len = strlen(raw);
    if (len == 0)
        return bad(err, "an entry has an empty name");
    if (len > MAX_NAME_LEN)
        return bad(err, "entry '%s' has a name longer than %d bytes", shown(raw, nm), MAX_NAME_LEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f)
            return bad(err, "entry '%s' has a control character in its name", shown(raw, nm));
    }
    /* zips made on Windows may separate with "\"; read it as "/" so that
     * "..\x" is caught like "../x" */
    if (raw[0] == '/' || raw[0] == '\\')
        return bad(err, "entry '%s' has an absolute path", shown(raw, nm));
    *is_dir = raw[len - 1] == '/' || raw[len - 1] == '\\';
    int depth = 0;
    size_t start = names->len;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && raw[j] != '/' && raw[j] != '\\')
            j++;
        size_t cl = j - i;
        if (cl == 2 && raw[i] == '.' && raw[i + 1] == '.')
            return bad(err,
                       "entry '%s' has a '..' component (it would land outside the code "
                       "directory)",
                       shown(raw, nm));
        if (cl > MAX_COMPONENT)
            return bad(err, "entry '%s' has a path component longer than %d bytes", shown(raw, nm),
                       MAX_COMPONENT);
        if (cl > 0 && !(cl == 1 && raw[i] == '.')) {
            if (++depth > MAX_DEPTH)
                return bad(err, "entry '%s' is nested deeper than %d directories", shown(raw, nm),
                           MAX_DEPTH);
            if ((names->len > start && buf_append(names, "/", 1) < 0) ||
                buf_append(names, raw + i, cl) < 0)
                return frost_err_set(err, 500, "InternalError", "out of memory");
        }
        i = j + 1;
    }
    if (buf_append(names, "", 1) < 0) /* the NUL */
        return frost_err_set(err, 500, "InternalError", "out of memory");
    return depth;
}

/* A symlink may point only inside the tree. Checked without looking at the
 * disk: ".." only as leading components and no more of them than the link's
 * directory is deep, then plain names. Since every link is held to this and
 * no entry is ever created through a link, following any chain of links
 * stays inside; "a/../b" is refused because "a" might itself be a link. */
static int check_link_target(const char *rel, int depth, const char *t, size_t n,
                             struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    if (n == 0)
        return bad(err, "symlink '%s' has an empty target", shown(rel, nm));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f)
            return bad(err, "symlink '%s' has a control character in its target", shown(rel, nm));
    }
    if (t[0] == '/')
        return bad(err,
                   "symlink '%s' points to an absolute path; only relative targets "
                   "inside the package are allowed",
                   shown(rel, nm));
    int ups = 0;
    bool named = false;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && t[j] != '/')
            j++;
        size_t cl = j - i;
        if (cl == 2 && t[i] == '.' && t[i + 1] == '.') {
            if (named)
                return bad(err,
                           "symlink '%s': '..' may only lead the target, not follow a "
                           "name",
                           shown(rel, nm));
            if (++ups > depth - 1)
                return bad(err, "symlink '%s' points outside the package", shown(rel, nm));
        } else if (cl > 0 && !(cl == 1 && t[i] == '.')) {
            named = true;
        }
        i = j + 1;
    }
    return 0;
}

/* ---- pass 1: the central directory -------------------------------------- */

static int open_zip(const void *data, size_t len, zip_t **out, struct frost_err *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    /* ZIP_CHECKCONS compares every local header with the central directory */
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za) {
        zip_source_free(src);
        int rc = bad(err, "not a valid zip archive (%s)", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    *out = za;
    return 0;
}

static int scan(struct pkg *p, const struct spec_code_limits *lim, struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    zip_int64_t n = zip_get_num_entries(p->za, 0);
    if (n < 0)
        return bad(err, "not a valid zip archive");
    if ((uint64_t)n > lim->max_entries)
        return bad(err, "%" PRId64 " entries, more than the limit of %" PRIu64, (int64_t)n,
                   lim->max_entries);
    p->entries = calloc(n > 0 ? (size_t)n : 1, sizeof(*p->entries));
    if (!p->entries)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    for (zip_uint64_t i = 0; i < (zip_uint64_t)n; i++) {
        const char *raw = zip_get_name(p->za, i, ZIP_FL_ENC_GUESS);
        if (!raw)
            return bad(err, "entry %" PRIu64 " has no readable name", (uint64_t)i);
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(p->za, i, 0, &st) < 0)
            return bad(err, "entry '%s' is unreadable (%s)", shown(raw, nm), zip_strerror(p->za));
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            return bad(err, "entry '%s' is encrypted; upload an unencrypted zip", shown(raw, nm));
        if ((st.valid & ZIP_STAT_COMP_METHOD) &&
            !zip_compression_method_supported(st.comp_method, 0))
            return bad(err, "entry '%s' uses unsupported compression method %d", shown(raw, nm),
                       (int)st.comp_method);
        if (!(st.valid & ZIP_STAT_SIZE))
            return bad(err, "entry '%s' has no size", shown(raw, nm));

        bool slash = false;
        size_t off = p->names.len;
        int depth = normalise_name(raw, &p->names, &slash, err);
        if (depth < 0)
            return -1;

        zip_uint8_t opsys = ZIP_OPSYS_DOS;
        zip_uint32_t attr = 0;
        if (zip_file_get_external_attributes(p->za, i, 0, &opsys, &attr) < 0)
            return bad(err, "entry '%s' has unreadable attributes", shown(raw, nm));
        enum kind kind = slash ? KIND_DIR : KIND_FILE;
        mode_t mode = 0644;
        if (opsys == ZIP_OPSYS_UNIX) {
            mode_t m = (mode_t)(attr >> 16);
            switch (m & S_IFMT) {
            case S_IFLNK:
                kind = KIND_LINK;
                break;
            case S_IFDIR:
                kind = KIND_DIR;
                break;
            case S_IFREG:
            case 0: /* type not recorded: go by the name */
                break;
            default:
                return bad(err,
                           "entry '%s' is a device, FIFO or socket; only files, "
                           "directories and symlinks are allowed",
                           shown(raw, nm));
            }
            /* keep only "executable or not": setuid, setgid, sticky and
             * group/world write are never restored */
            if (m & 0111)
                mode = 0755;
        } else if (attr & 0x10) { /* MS-DOS directory attribute */
            kind = KIND_DIR;
        }
        if (kind == KIND_LINK && slash)
            return bad(err, "symlink '%s' has a directory name", shown(raw, nm));
        if (depth == 0) {
            if (kind != KIND_DIR)
                return bad(err, "entry '%s' names the package root as a file", shown(raw, nm));
            p->names.len = off; /* the root itself: nothing to create */
            continue;
        }
        if (kind == KIND_LINK && st.size > MAX_LINK_LEN)
            return bad(err, "symlink '%s' has a target longer than %d bytes", shown(raw, nm),
                       MAX_LINK_LEN);
        uint64_t size = kind == KIND_DIR ? 0 : st.size;
        if (size > lim->max_unpacked_bytes - p->declared)
            return bad(err, "unpacks to more than the limit of %" PRIu64 " bytes (declared sizes)",
                       lim->max_unpacked_bytes);
        p->declared += size;
        p->entries[p->n_entries++] =
            (struct entry){.index = i, .rel_off = off, .kind = kind, .mode = mode, .size = size};
    }
    return 0;
}

/* ---- pass 2: unpacking -------------------------------------------------- */

/* Removes dirfd/name and everything below it without following symlinks. */
static void rm_tree_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
        return;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
        } else {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) {
                    if (depth < MAX_DEPTH + 8)
                        rm_tree_at(dirfd(d), e->d_name, depth + 1);
                } else {
                    unlinkat(dirfd(d), e->d_name, 0);
                }
            }
            closedir(d);
        }
    }
    unlinkat(parent, name, AT_REMOVEDIR);
}

static int io_fail(struct frost_err *err, const char *what, const char *path)
{
    return frost_err_errno(err, errno, "code store: %s %s", what, path);
}

/* Opens (creating as needed) the directory holding rel's last component, one
 * component at a time and never through a symlink. *last points at the final
 * component inside rel. Returns an fd the caller closes. */
static int open_parent(int rootfd, const char *rel, const char **last, struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    int fd = dup(rootfd);
    if (fd < 0)
        return io_fail(err, "dup of", "the unpack directory");
    const char *p = rel;
    for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        char comp[MAX_COMPONENT + 1];
        size_t cl = (size_t)(slash - p);
        memcpy(comp, p, cl);
        comp[cl] = '\0';
        bool made = mkdirat(fd, comp, 0755) == 0;
        if (!made && errno != EEXIST) {
            close(fd);
            return io_fail(err, "creating a directory for", rel);
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (next < 0) {
            if (errno == ENOTDIR || errno == ELOOP)
                return bad(err, "entry '%s' passes through a file or symlink", shown(rel, nm));
            return io_fail(err, "opening a directory for", rel);
        }
        if (made && fchmod(next, 0755) < 0) {
            close(next);
            return io_fail(err, "setting the mode of a directory for", rel);
        }
        fd = next;
    }
    *last = p;
    return fd;
}

static int write_all(int fd, const char *d, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, d, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        d += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Streams one entry's data to fd (or into link_buf when fd < 0), counting
 * what actually comes out: a lying size header cannot exceed the limits. */
static int copy_entry(struct pkg *p, const struct entry *e, int fd, char *chunk, char *link_buf,
                      uint64_t *total, const struct spec_code_limits *lim, struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    const char *rel = pkg_rel(p, e);
    zip_file_t *zf = zip_fopen_index(p->za, e->index, 0);
    if (!zf)
        return bad(err, "entry '%s' cannot be read (%s)", shown(rel, nm), zip_strerror(p->za));
    uint64_t got = 0;
    int rc = 0;
    for (;;) {
        zip_int64_t r = zip_fread(zf, chunk, COPY_CHUNK);
        if (r < 0) {
            rc = bad(err, "entry '%s' is corrupt (%s)", shown(rel, nm),
                     zip_error_strerror(zip_file_get_error(zf)));
            break;
        }
        if (r == 0)
            break;
        if ((uint64_t)r > e->size - got) {
            rc = bad(err,
                     "entry '%s' holds more data than its declared size (corrupt or a "
                     "zip bomb)",
                     shown(rel, nm));
            break;
        }
        if ((uint64_t)r > lim->max_unpacked_bytes - *total) {
            rc = bad(err, "unpacks to more than the limit of %" PRIu64 " bytes",
                     lim->max_unpacked_bytes);
            break;
        }
        if (fd >= 0 && write_all(fd, chunk, (size_t)r) < 0) {
            rc = io_fail(err, "writing", rel);
            break;
        }
        if (fd < 0)
            memcpy(link_buf + got, chunk, (size_t)r);
        got += (uint64_t)r;
        *total += (uint64_t)r;
    }
    if (zip_fclose(zf) != 0 && rc == 0)
        rc = bad(err, "entry '%s' is corrupt", shown(rel, nm));
    if (rc == 0 && got != e->size)
        rc = bad(err, "entry '%s' is shorter than its declared size (corrupt)", shown(rel, nm));
    return rc;
}

static int unpack_entry(struct pkg *p, const struct entry *e, int rootfd, char *chunk,
                        uint64_t *total, const struct spec_code_limits *lim, struct frost_err *err)
{
    char nm[MSG_NAME_CHARS + 4];
    const char *rel = pkg_rel(p, e);
    const char *last = NULL;
    _cleanup_close_ int dfd = open_parent(rootfd, rel, &last, err);
    if (dfd < 0)
        return -1;
    switch (e->kind) {
    case KIND_DIR: {
        bool made = mkdirat(dfd, last, 0755) == 0;
        if (!made && errno != EEXIST)
            return io_fail(err, "creating directory", rel);
        _cleanup_close_ int fd = openat(dfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return bad(err, "directory '%s' clashes with a file or symlink of the same name",
                       shown(rel, nm));
        if (made && fchmod(fd, 0755) < 0)
            return io_fail(err, "setting the mode of", rel);
        return 0;
    }
    case KIND_FILE: {
        _cleanup_close_ int fd =
            openat(dfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                return bad(err, "entry '%s' appears twice", shown(rel, nm));
            return io_fail(err, "creating", rel);
        }
        if (copy_entry(p, e, fd, chunk, NULL, total, lim, err) < 0)
            return -1;
        /* the exact mode, whatever the process umask */
        if (fchmod(fd, e->mode) < 0)
            return io_fail(err, "setting the mode of", rel);
        int rc = close(fd);
        fd = -1;
        if (rc < 0)
            return io_fail(err, "writing", rel);
        return 0;
    }
    case KIND_LINK: {
        char target[MAX_LINK_LEN + 1];
        if (copy_entry(p, e, -1, chunk, target, total, lim, err) < 0)
            return -1;
        target[e->size] = '\0';
        int depth = 1;
        for (const char *c = rel; *c; c++)
            depth += *c == '/';
        if (memchr(target, '\0', e->size) != NULL)
            return bad(err, "symlink '%s' has a NUL in its target", shown(rel, nm));
        if (check_link_target(rel, depth, target, e->size, err) < 0)
            return -1;
        if (symlinkat(target, dfd, last) < 0) {
            if (errno == EEXIST)
                return bad(err, "entry '%s' appears twice", shown(rel, nm));
            return io_fail(err, "creating symlink", rel);
        }
        return 0;
    }
    }
    return 0;
}

/* Unpacks into a fresh temporary directory in code_dir, syncs it and renames
 * it to final. Losing the rename race to an identical upload is success. */
static int unpack(struct pkg *p, int code_fd, const char *code_dir, const char *sum,
                  const char *final, const struct spec_code_limits *lim, uint64_t *total,
                  struct frost_err *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", code_dir, sum) >= sizeof(tmp))
        return frost_err_set(err, 500, "InternalError", "code store: path too long");
    if (!mkdtemp(tmp))
        return io_fail(err, "creating", tmp);
    const char *tmp_name = strrchr(tmp, '/') + 1;
    int rc = -1;
    _cleanup_free_ char *chunk = malloc(COPY_CHUNK);
    _cleanup_close_ int rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!chunk) {
        frost_err_set(err, 500, "InternalError", "out of memory");
        goto out;
    }
    if (rootfd < 0 || fchmod(rootfd, 0755) < 0) {
        io_fail(err, "opening", tmp);
        goto out;
    }
    *total = 0;
    for (size_t i = 0; i < p->n_entries; i++) {
        if (unpack_entry(p, &p->entries[i], rootfd, chunk, total, lim, err) < 0)
            goto out;
    }
    /* one syncfs instead of an fsync per file: packages hold thousands */
    if (syncfs(rootfd) < 0) {
        io_fail(err, "syncing", tmp);
        goto out;
    }
    if (renameat(code_fd, tmp_name, code_fd, final) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            io_fail(err, "renaming", tmp);
            goto out;
        }
        /* an identical package got there first */
        rm_tree_at(code_fd, tmp_name, 0);
    }
    return 0;
out:
    rm_tree_at(code_fd, tmp_name, 0);
    return rc;
}

static int write_zip(int code_fd, const char *code_dir, const char *sum, const char *final,
                     const void *data, size_t len, struct frost_err *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", code_dir, sum) >= sizeof(tmp))
        return frost_err_set(err, 500, "InternalError", "code store: path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, "creating", tmp);
    const char *tmp_name = strrchr(tmp, '/') + 1;
    if (write_all(fd, data, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
        io_fail(err, "writing", tmp);
        close(fd);
        unlinkat(code_fd, tmp_name, 0);
        return -1;
    }
    if (close(fd) < 0 || renameat(code_fd, tmp_name, code_fd, final) < 0) {
        io_fail(err, "storing", tmp);
        unlinkat(code_fd, tmp_name, 0);
        return -1;
    }
    return 0;
}

static void pkg_free(struct pkg *p)
{
    if (p->za)
        zip_discard(p->za);
    free(p->entries);
    buf_free(&p->names);
}

int spec_code_store(const char *code_dir, const char *b64, size_t b64_len,
                    const struct spec_code_limits *lim_in, struct spec_code_info *out,
                    struct frost_err *err)
{
    memset(out, 0, sizeof(*out));
    struct spec_code_limits lim = {
        .max_zip_bytes = lim_in && lim_in->max_zip_bytes ? lim_in->max_zip_bytes
                                                         : SPEC_CODE_DEFAULT_MAX_ZIP_BYTES,
        .max_unpacked_bytes = lim_in && lim_in->max_unpacked_bytes
                                  ? lim_in->max_unpacked_bytes
                                  : SPEC_CODE_DEFAULT_MAX_UNPACKED_BYTES,
        .max_entries =
            lim_in && lim_in->max_entries ? lim_in->max_entries : SPEC_CODE_DEFAULT_MAX_ENTRIES,
    };

    /* the size is known from the text alone: refuse before allocating */
    size_t zip_len = 0;
    if (codec_base64_decoded_len(b64, b64_len, &zip_len) < 0)
        return bad(err, "not valid base64");
    if (zip_len > lim.max_zip_bytes)
        return bad(err, "the zip is %zu bytes, more than the limit of %" PRIu64 " bytes", zip_len,
                   lim.max_zip_bytes);
    if (zip_len == 0)
        return bad(err, "empty");
    _cleanup_free_ unsigned char *zip = malloc(zip_len);
    if (!zip)
        return frost_err_set(err, 500, "InternalError", "out of memory for a %zu byte zip",
                             zip_len);
    size_t got = 0;
    if (codec_base64_decode(b64, b64_len, zip, zip_len, &got) < 0)
        return bad(err, "not valid base64");
    char sum[CODEC_SHA256_HEX_LEN + 1];
    if (codec_sha256_hex(zip, zip_len, sum) < 0)
        return frost_err_set(err, 500, "InternalError", "SHA-256 failed");

    char zip_name[CODEC_SHA256_HEX_LEN + 8], dir_name[CODEC_SHA256_HEX_LEN + 1];
    snprintf(zip_name, sizeof(zip_name), "%s.zip", sum);
    snprintf(dir_name, sizeof(dir_name), "%s", sum);
    if ((size_t)snprintf(out->zip_path, sizeof(out->zip_path), "%s/%s", code_dir, zip_name) >=
            sizeof(out->zip_path) ||
        (size_t)snprintf(out->path, sizeof(out->path), "%s/%s", code_dir, dir_name) >=
            sizeof(out->path))
        return frost_err_set(err, 500, "InternalError", "code store: path too long");

    /* names are at most MAX_NAME_LEN + 1 bytes each; 0 (no cap) if that overflows */
    size_t names_cap = lim.max_entries < SIZE_MAX / (MAX_NAME_LEN + 1)
                           ? (size_t)lim.max_entries * (MAX_NAME_LEN + 1)
                           : 0;
    struct pkg p = {.names = BUF_INIT(names_cap)};
    int rc = -1;
    _cleanup_close_ int code_fd = -1;
    if (open_zip(zip, zip_len, &p.za, err) < 0 || scan(&p, &lim, err) < 0)
        goto out;

    if (mkdir(code_dir, 0755) < 0 && errno != EEXIST) {
        io_fail(err, "creating", code_dir);
        goto out;
    }
    code_fd = open(code_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (code_fd < 0) {
        io_fail(err, "opening", code_dir);
        goto out;
    }
    struct stat st;
    bool have_zip =
        fstatat(code_fd, zip_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    bool have_dir =
        fstatat(code_fd, dir_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    uint64_t unpacked = p.declared;
    /* the tree first: a zip on disk means its content passed every check */
    if (!have_dir && unpack(&p, code_fd, code_dir, sum, dir_name, &lim, &unpacked, err) < 0)
        goto out;
    if (!have_zip && write_zip(code_fd, code_dir, sum, zip_name, zip, zip_len, err) < 0)
        goto out;
    if ((!have_dir || !have_zip) && fsync(code_fd) < 0) {
        io_fail(err, "syncing", code_dir);
        goto out;
    }
    memcpy(out->checksum, sum, sizeof(out->checksum));
    out->zip_size = zip_len;
    out->unpacked_size = unpacked;
    out->entries = (uint64_t)zip_get_num_entries(p.za, 0);
    rc = 0;
out:
    pkg_free(&p);
    return rc;
}
