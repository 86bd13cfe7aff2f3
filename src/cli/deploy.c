/* `frost deploy`: an s.yaml (Serverless Devs fc3) applied through the FC API,
 * with code folders zipped here. docs/deploy.md describes what it does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "base/buf.h"
#include "base/codec.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "spec/code.h"
#include "spec/spec.h"
#include "spec/syaml.h"

extern char **environ;

#define FC "/2023-03-30"

static const char deploy_usage[] =
    "Usage: frost deploy [-t s.yaml] [--function NAME] [-y] [--json]\n"
    "\n"
    "Creates or updates every fc3 resource of a Serverless Devs s.yaml (edition 3.0.0):\n"
    "the function (with its code folder zipped here), its triggers, and its async-invoke,\n"
    "concurrency and provision configs. Objects that already match the file are left\n"
    "alone and reported \"unchanged\"; triggers that exist but are not in the file are\n"
    "kept. See docs/deploy.md.\n"
    "\n"
    "Options:\n"
    "  -t, --template FILE   the s.yaml to deploy           [./s.yaml, else ./s.yml]\n"
    "      --function NAME   deploy only this resource (resource key or functionName)\n"
    "  -y, --assume-yes      accepted for `s deploy -y`; frost deploy never asks\n"
    "      --json            print a machine-readable summary instead of a table\n"
    "  -a, --access NAME     accepted and ignored (an `s` credential alias)\n"
    "      --skip-push VALUE accepted and ignored (Frost never builds or pushes images)\n"
    "  -h, --help            show this help\n"
    "\n" CLI_CLIENT_USAGE "\n"
    "Exit status: 0 deployed, 1 the server refused a change or could not be reached\n"
    "(what was done so far is printed), 2 bad flags, s.yaml or code folder.\n";

/* ---- zipping a code folder ----------------------------------------------- */

/* Entries get this fixed DOS time (1980-01-01 00:00) so the same files always
 * give the same zip, hence the same codeChecksum, and an unchanged folder is
 * reported unchanged. */
#define ZIP_DOS_DATE ((0 << 9) | (1 << 5) | 1)
#define ZIP_DOS_TIME 0
#define MAX_DEPTH    128

enum ekind { E_DIR, E_FILE, E_LINK };

struct entry {
    char *rel; /* path inside the zip, "/"-separated */
    enum ekind kind;
    mode_t mode;
};

struct walk {
    const char *root;
    struct entry *v;
    size_t n, cap;
    uint64_t bytes;
    struct frost_err *err;
};

static int add_entry(struct walk *w, const char *rel, enum ekind kind, mode_t mode)
{
    if (w->n == SPEC_CODE_DEFAULT_MAX_ENTRIES)
        return frost_err_set(w->err, 400, "InvalidArgument",
                             "code folder %s: more than %d entries (Frost's limit)", w->root,
                             SPEC_CODE_DEFAULT_MAX_ENTRIES);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct entry *v = realloc(w->v, cap * sizeof(*v));
        if (!v)
            return frost_err_set(w->err, 500, "InternalError", "out of memory");
        w->v = v;
        w->cap = cap;
    }
    char *copy = strdup(rel);
    if (!copy)
        return frost_err_set(w->err, 500, "InternalError", "out of memory");
    w->v[w->n++] = (struct entry){copy, kind, mode};
    return 0;
}

static int walk_dir(struct walk *w, const char *rel, int depth)
{
    if (depth > MAX_DEPTH)
        return frost_err_set(w->err, 400, "InvalidArgument",
                             "code folder %s: nested more than %d levels deep", w->root, MAX_DEPTH);
    char dirpath[PATH_MAX];
    if ((size_t)snprintf(dirpath, sizeof(dirpath), "%s%s%s", w->root, *rel ? "/" : "", rel) >=
        sizeof(dirpath))
        return frost_err_set(w->err, 400, "InvalidArgument", "%s/%s: path too long", w->root, rel);
    DIR *d = opendir(dirpath);
    if (!d)
        return frost_err_errno(w->err, errno, "cannot read folder %s", dirpath);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        /* Version-control metadata is never needed by a function, and it
         * changes with every commit (which would change codeChecksum). */
        if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, ".git"))
            continue;
        char child[PATH_MAX], full[PATH_MAX];
        if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", nm) >=
                sizeof(child) ||
            (size_t)snprintf(full, sizeof(full), "%s/%s", dirpath, nm) >= sizeof(full)) {
            rc = frost_err_set(w->err, 400, "InvalidArgument", "%s/%s: path too long", dirpath, nm);
            break;
        }
        struct stat st;
        if (lstat(full, &st) < 0) {
            rc = frost_err_errno(w->err, errno, "cannot stat %s", full);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = add_entry(w, child, E_DIR, S_IFDIR | 0755);
            if (rc == 0)
                rc = walk_dir(w, child, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            w->bytes += (uint64_t)st.st_size;
            if (w->bytes > SPEC_CODE_DEFAULT_MAX_UNPACKED_BYTES) {
                rc = frost_err_set(
                    w->err, 400, "InvalidArgument",
                    "code folder %s: more than %llu MiB of files (Frost's limit "
                    "for an unpacked package)",
                    w->root, (unsigned long long)(SPEC_CODE_DEFAULT_MAX_UNPACKED_BYTES >> 20));
                break;
            }
            /* Only "executable or not" survives, as on the server. */
            rc = add_entry(w, child, E_FILE, S_IFREG | ((st.st_mode & 0111) ? 0755 : 0644));
        } else if (S_ISLNK(st.st_mode)) {
            rc = add_entry(w, child, E_LINK, S_IFLNK | 0777);
        } else {
            rc = frost_err_set(w->err, 400, "InvalidArgument",
                               "%s: a device, FIFO or socket cannot go into a code package", full);
        }
    }
    if (rc == 0 && errno != 0 && !de)
        rc = frost_err_errno(w->err, errno, "cannot read folder %s", dirpath);
    closedir(d);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

static int zip_fail(zip_t *za, const char *root, const char *what, struct frost_err *err)
{
    return frost_err_set(err, 500, "InternalError", "zipping %s: %s: %s", root, what,
                         zip_error_strerror(zip_get_error(za)));
}

static int zip_add_entries(zip_t *za, struct walk *w, struct frost_err *err)
{
    for (size_t i = 0; i < w->n; i++) {
        const struct entry *e = &w->v[i];
        char full[PATH_MAX];
        snprintf(full, sizeof(full), "%s/%s", w->root, e->rel);
        zip_int64_t idx;
        if (e->kind == E_DIR) {
            idx = zip_dir_add(za, e->rel, ZIP_FL_ENC_GUESS);
        } else {
            zip_source_t *src;
            if (e->kind == E_FILE) {
                src = zip_source_file(za, full, 0, -1);
            } else {
                /* A symlink is stored as itself: its target is the content. */
                char target[PATH_MAX];
                ssize_t n = readlink(full, target, sizeof(target));
                if (n < 0 || (size_t)n >= sizeof(target))
                    return frost_err_errno(err, n < 0 ? errno : ENAMETOOLONG,
                                           "cannot read symlink %s", full);
                char *copy = malloc((size_t)n);
                if (!copy)
                    return frost_err_set(err, 500, "InternalError", "out of memory");
                memcpy(copy, target, (size_t)n);
                src = zip_source_buffer(za, copy, (zip_uint64_t)n, 1);
                if (!src)
                    free(copy);
            }
            if (!src)
                return zip_fail(za, w->root, e->rel, err);
            idx = zip_file_add(za, e->rel, src, ZIP_FL_ENC_GUESS);
            if (idx < 0)
                zip_source_free(src);
            else if (e->kind == E_LINK &&
                     zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0)
                return zip_fail(za, w->root, e->rel, err);
        }
        if (idx < 0 ||
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                             (zip_uint32_t)e->mode << 16) < 0 ||
            zip_file_set_dostime(za, (zip_uint64_t)idx, ZIP_DOS_TIME, ZIP_DOS_DATE, 0) < 0)
            return zip_fail(za, w->root, e->rel, err);
    }
    return 0;
}

/* Zips the contents of folder root in memory: entries in byte order of their
 * paths, fixed times, Unix modes in the external attributes. *zip is
 * malloc'd. */
static int zip_folder(const char *root, unsigned char **zip, size_t *zip_len, struct frost_err *err)
{
    struct walk w = {.root = root, .err = err};
    int rc = -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *buf = NULL;
    zip_t *za = NULL;
    if (walk_dir(&w, "", 0) < 0)
        goto out;
    if (w.n == 0) {
        frost_err_set(err, 400, "InvalidArgument", "code folder %s is empty", root);
        goto out;
    }
    qsort(w.v, w.n, sizeof(*w.v), entry_cmp);
    buf = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (!buf || !(za = zip_open_from_source(buf, ZIP_TRUNCATE, &ze))) {
        frost_err_set(err, 500, "InternalError", "zipping %s: %s", root, zip_error_strerror(&ze));
        goto out;
    }
    /* zip_close would free the buffer source; it holds the result. */
    zip_source_keep(buf);
    if (zip_add_entries(za, &w, err) < 0) {
        zip_discard(za);
        goto out;
    }
    if (zip_close(za) < 0) {
        zip_fail(za, root, "writing the archive", err);
        zip_discard(za);
        goto out;
    }
    zip_stat_t st;
    if (zip_source_stat(buf, &st) < 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(buf) < 0) {
        frost_err_set(err, 500, "InternalError", "zipping %s: cannot read the archive back", root);
        goto out;
    }
    if (st.size > SPEC_CODE_DEFAULT_MAX_ZIP_BYTES) {
        zip_source_close(buf);
        frost_err_set(err, 400, "InvalidArgument",
                      "code folder %s: the zip is %llu MiB, more than Frost's limit of %llu MiB",
                      root, (unsigned long long)(st.size >> 20),
                      (unsigned long long)(SPEC_CODE_DEFAULT_MAX_ZIP_BYTES >> 20));
        goto out;
    }
    *zip = malloc(st.size ? st.size : 1);
    if (!*zip || zip_source_read(buf, *zip, st.size) != (zip_int64_t)st.size) {
        free_and_null(zip);
        zip_source_close(buf);
        frost_err_set(err, 500, "InternalError", "zipping %s: cannot read the archive back", root);
        goto out;
    }
    zip_source_close(buf);
    *zip_len = st.size;
    rc = 0;
out:
    zip_source_free(buf);
    zip_error_fini(&ze);
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    return rc;
}

static int read_zip_file(const char *path, unsigned char **zip, size_t *zip_len,
                         struct frost_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return frost_err_errno(err, errno, "code %s", path);
    if ((uint64_t)st.st_size > SPEC_CODE_DEFAULT_MAX_ZIP_BYTES)
        return frost_err_set(err, 400, "InvalidArgument",
                             "code %s: %llu MiB, more than Frost's limit of %llu MiB", path,
                             (unsigned long long)(st.st_size >> 20),
                             (unsigned long long)(SPEC_CODE_DEFAULT_MAX_ZIP_BYTES >> 20));
    size_t len = (size_t)st.st_size;
    unsigned char *data = malloc(len ? len : 1);
    if (!data)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, data + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(data);
            return frost_err_errno(err, r < 0 ? errno : EIO, "cannot read %s", path);
        }
        got += (size_t)r;
    }
    if (len < 4 || memcmp(data, "PK", 2) != 0) {
        free(data);
        return frost_err_set(err, 400, "InvalidArgument",
                             "code %s: not a zip file; give a folder or a .zip", path);
    }
    *zip = data;
    *zip_len = len;
    return 0;
}

/* A resource's code, ready to send. */
struct code_pkg {
    bool present;
    char *b64;
    uint64_t size;
    char checksum[CODEC_SHA256_HEX_LEN + 1];
};

static int prepare_code(const struct spec_syaml_resource *r, struct code_pkg *pkg,
                        struct frost_err *err)
{
    if (!r->code_path)
        return 0;
    struct stat st;
    if (stat(r->code_path, &st) < 0)
        return frost_err_errno(err, errno, "resources.%s.props.code: %s", r->name, r->code_path);
    unsigned char *zip = NULL;
    size_t len = 0;
    int rc = S_ISDIR(st.st_mode) ? zip_folder(r->code_path, &zip, &len, err)
                                 : read_zip_file(r->code_path, &zip, &len, err);
    if (rc < 0)
        return frost_err_prefix(err, "resources.%s.props.code", r->name);
    if (codec_sha256_hex(zip, len, pkg->checksum) < 0) {
        free(zip);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    size_t blen = codec_base64_encoded_len(len);
    pkg->b64 = blen == SIZE_MAX ? NULL : malloc(blen + 1);
    if (!pkg->b64) {
        free(zip);
        return frost_err_set(err, 500, "InternalError", "out of memory");
    }
    codec_base64_encode(zip, len, pkg->b64);
    free(zip);
    pkg->size = len;
    pkg->present = true;
    return 0;
}

/* ---- comparing ------------------------------------------------------------ */

/* Deep equality where 2 and 2.0 are the same number and object key order
 * does not matter. */
static bool same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            const json_t *w = json_object_get(b, k);
            if (!w || !same(v, w))
                return false;
        }
        return true;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal(a, b);
}

/* A member that holds JSON text (triggerConfig) compares by its content. */
static bool same_member(const char *key, const json_t *a, const json_t *b)
{
    if (a && b && strcmp(key, "triggerConfig") == 0 && json_is_string(a) && json_is_string(b)) {
        json_t *pa = json_loads(json_string_value(a), 0, NULL);
        json_t *pb = json_loads(json_string_value(b), 0, NULL);
        bool eq = pa && pb ? same(pa, pb) : json_equal(a, b);
        json_decref(pa);
        json_decref(pb);
        return eq;
    }
    return a && b ? same(a, b) : a == b;
}

static bool ignored(const char *key, const char *const *ignore)
{
    for (; ignore && *ignore; ignore++)
        if (strcmp(key, *ignore) == 0)
            return true;
    return false;
}

/* Names of the members that differ between before and after (skipping
 * `ignore`), as a new array. */
static json_t *diff_keys(const json_t *before, const json_t *after, const char *const *ignore)
{
    json_t *out = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v)
    {
        if (!ignored(k, ignore) && !same_member(k, json_object_get(before, k), v))
            json_array_append_new(out, json_string(k));
    }
    json_object_foreach((json_t *)before, k, v)
    {
        if (!ignored(k, ignore) && !json_object_get(after, k))
            json_array_append_new(out, json_string(k));
    }
    return out;
}

/* When the change cannot be computed here (it does not validate), the
 * server decides; every member sent is listed. */
static json_t *keys_of(const json_t *obj)
{
    json_t *out = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        json_array_append_new(out, json_string(k));
    }
    return out;
}

/* ---- the deployment ------------------------------------------------------- */

struct deploy {
    struct cli_client *client;
    json_t *changes; /* summary rows */
    struct frost_err err;
};

/* Adds a summary row (changed is stolen); returns it (borrowed) or NULL. */
static json_t *record(struct deploy *d, const char *fn, const char *kind, const char *name,
                      const char *result, json_t *changed, const char *url)
{
    json_t *row = json_pack("{s:s, s:s, s:s, s:s}", "functionName", fn, "kind", kind, "name",
                            name ? name : "", "result", result);
    if (!row) {
        json_decref(changed);
        return NULL;
    }
    /* Only an update has something to list. */
    if (json_array_size(changed))
        json_object_set_new(row, "changed", changed);
    else
        json_decref(changed);
    if (url)
        json_object_set_new(row, "url", json_string(url));
    return json_array_append_new(d->changes, row) == 0 ? row : NULL;
}

static void record_code(json_t *row, const struct code_pkg *pkg)
{
    if (!row || !pkg->present)
        return;
    json_object_set_new(row, "codeChecksum", json_string(pkg->checksum));
    json_object_set_new(row, "codeSize", json_integer((json_int_t)pkg->size));
}

/* GET that tells "not there" (404 with code not_found) from failures: 1 =
 * found (*out set), 0 = not found, -1 = error. */
static int get_maybe(struct deploy *d, const char *path, const char *not_found, json_t **out)
{
    int status;
    if (cli_request(d->client, "GET", path, NULL, &status, out, &d->err) == 0) {
        if (json_is_object(*out))
            return 1;
        json_decref(*out);
        *out = NULL;
        return frost_err_set(&d->err, 502, "BadResponse", "GET %s: the answer is not an object",
                             path);
    }
    if (status == 404 && strcmp(d->err.code, not_found) == 0) {
        frost_err_clear(&d->err);
        return 0;
    }
    return -1;
}

static int request(struct deploy *d, const char *method, const char *path, const json_t *body,
                   json_t **answer)
{
    int status;
    json_t *a = NULL;
    int rc = cli_request(d->client, method, path, body, &status, &a, &d->err);
    if (answer)
        *answer = a;
    else
        json_decref(a);
    return rc;
}

static int attach_code(const struct spec_syaml_resource *r, const struct code_pkg *pkg,
                       json_t *body)
{
    json_t *code = pkg->present ? json_pack("{s:s}", "zipFile", pkg->b64)
                   : r->code    ? json_deep_copy(r->code)
                                : NULL;
    if (!code)
        return pkg->present || r->code ? -1 : 0;
    return json_object_set_new(body, "code", code);
}

static int deploy_function(struct deploy *d, const struct spec_syaml_resource *r,
                           const struct code_pkg *pkg, const char *fn, const char *fpath)
{
    static const struct code_pkg none = {0};
    static const char *const output_only[] = {"lastModifiedTime", NULL};
    json_t *cur = NULL;
    int found = get_maybe(d, fpath, "FunctionNotFound", &cur);
    if (found < 0)
        return -1;
    json_t *body = json_deep_copy(r->function);
    if (!body)
        return frost_err_set(&d->err, 500, "InternalError", "out of memory");
    if (!found) {
        if (attach_code(r, pkg, body) < 0) {
            json_decref(body);
            return frost_err_set(&d->err, 500, "InternalError", "out of memory");
        }
        int rc = request(d, "POST", FC "/functions", body, NULL);
        json_decref(body);
        if (rc < 0)
            return -1;
        record_code(record(d, fn, "function", fn, "created", NULL, NULL), pkg);
        return 0;
    }
    /* What the server would store, computed with the same rules it applies:
     * only a real difference is sent. */
    json_t *next = NULL;
    struct frost_err local = {0};
    json_t *changed;
    if (spec_function_update(cur, body, &next, &local) == 0) {
        changed = diff_keys(cur, next, output_only);
        json_decref(next);
    } else {
        /* The server will say what is wrong with the change. */
        changed = keys_of(body);
    }
    bool send_code = r->code != NULL;
    if (pkg->present) {
        const char *sum = json_string_value(json_object_get(cur, "codeChecksum"));
        send_code = !sum || strcmp(sum, pkg->checksum) != 0;
    }
    json_decref(cur);
    if (send_code)
        json_array_append_new(changed, json_string("code"));
    if (json_array_size(changed) == 0) {
        json_decref(body);
        record(d, fn, "function", fn, "unchanged", changed, NULL);
        return 0;
    }
    if (send_code && attach_code(r, pkg, body) < 0) {
        json_decref(body);
        json_decref(changed);
        return frost_err_set(&d->err, 500, "InternalError", "out of memory");
    }
    int rc = request(d, "PUT", fpath, body, NULL);
    json_decref(body);
    if (rc < 0) {
        json_decref(changed);
        return -1;
    }
    record_code(record(d, fn, "function", fn, "updated", changed, NULL), send_code ? pkg : &none);
    return 0;
}

static const char *trigger_url(const json_t *t)
{
    return json_string_value(json_object_get(json_object_get(t, "httpTrigger"), "urlInternet"));
}

static int deploy_trigger(struct deploy *d, const char *fn, const char *fpath, const json_t *t)
{
    static const char *const output_only[] = {"lastModifiedTime", NULL};
    const char *name = json_string_value(json_object_get(t, "triggerName"));
    char esc[512], path[1024];
    if (cli_escape(name, esc, sizeof(esc)) < 0)
        return frost_err_set(&d->err, 400, "InvalidArgument", "trigger name too long");
    snprintf(path, sizeof(path), "%s/triggers/%s", fpath, esc);
    json_t *cur = NULL, *ans = NULL;
    int found = get_maybe(d, path, "TriggerNotFound", &cur);
    if (found < 0)
        return -1;
    char coll[1024];
    snprintf(coll, sizeof(coll), "%s/triggers", fpath);
    const char *result = "created";
    if (found) {
        const char *had = json_string_value(json_object_get(cur, "triggerType"));
        const char *want = json_string_value(json_object_get(t, "triggerType"));
        if (had && want && strcmp(had, want) != 0) {
            /* FC cannot change a trigger's type in place. */
            json_decref(cur);
            if (request(d, "DELETE", path, NULL, NULL) < 0)
                return -1;
            result = "recreated";
        } else {
            json_t *next = NULL;
            struct frost_err local = {0};
            json_t *changed = spec_trigger_update(cur, t, &next, &local) == 0
                                  ? diff_keys(cur, next, output_only)
                                  : keys_of(t);
            json_decref(next);
            if (json_array_size(changed) == 0) {
                record(d, fn, "trigger", name, "unchanged", changed, trigger_url(cur));
                json_decref(cur);
                return 0;
            }
            json_decref(cur);
            if (request(d, "PUT", path, t, &ans) < 0) {
                json_decref(changed);
                return -1;
            }
            record(d, fn, "trigger", name, "updated", changed, trigger_url(ans));
            json_decref(ans);
            return 0;
        }
    }
    if (request(d, "POST", coll, t, &ans) < 0)
        return -1;
    record(d, fn, "trigger", name, result, NULL, trigger_url(ans));
    json_decref(ans);
    return 0;
}

static bool in_file(const json_t *triggers, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(triggers, i, t)
    {
        const char *n = json_string_value(json_object_get(t, "triggerName"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* Triggers on the server that the file does not name are left alone (as
 * `s deploy` does) and reported, so nothing disappears by surprise. */
static int report_other_triggers(struct deploy *d, const char *fn, const char *fpath,
                                 const json_t *triggers)
{
    char token[512] = "";
    for (int pages = 0; pages < 1000; pages++) {
        char path[2048], esc[512];
        if (cli_escape(token, esc, sizeof(esc)) < 0)
            return frost_err_set(&d->err, 502, "BadResponse", "nextToken too long");
        snprintf(path, sizeof(path), "%s/triggers?limit=100%s%s", fpath,
                 token[0] ? "&nextToken=" : "", esc);
        json_t *page = NULL;
        if (request(d, "GET", path, NULL, &page) < 0)
            return -1;
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(page, "triggers"), i, t)
        {
            const char *n = json_string_value(json_object_get(t, "triggerName"));
            if (n && !in_file(triggers, n))
                record(d, fn, "trigger", n, "kept", NULL, trigger_url(t));
        }
        const char *next = json_string_value(json_object_get(page, "nextToken"));
        snprintf(token, sizeof(token), "%s", next ? next : "");
        json_decref(page);
        if (!token[0])
            break;
    }
    return 0;
}

struct config_kind {
    const char *field; /* in props, and the kind shown */
    const char *path;  /* under /functions/{fn}/ */
    const char *not_found;
    int (*normalise)(const json_t *in, json_t **out, struct frost_err *err);
};

static const struct config_kind config_kinds[] = {
    {"asyncInvokeConfig", "async-invoke-config", "AsyncConfigNotFound", spec_async_config},
    {"concurrencyConfig", "concurrency", "ConcurrencyConfigNotFound", spec_concurrency_config},
    {"provisionConfig", "provision-config", "ProvisionConfigNotFound", spec_provision_config},
};

static int deploy_config(struct deploy *d, const char *fn, const char *fpath,
                         const struct config_kind *k, const json_t *cfg)
{
    /* Members the server adds to what it stores. A provision config's
     * `target` is the target in force (scheduled actions and policies move
     * it); the configured value is `defaultTarget`, which is compared. */
    static const char *const output_only[] = {
        "functionArn", "createdTime",  "lastModifiedTime", "current", "currentError",
        "target",      "targetSource", "starting",         "frozen",  "scalingReason",
        NULL};
    json_t *body = json_deep_copy(cfg);
    if (!body)
        return frost_err_set(&d->err, 500, "InternalError", "out of memory");
    /* The qualifier travels in the query, not in the body. */
    char query[300] = "";
    const char *q = json_string_value(json_object_get(body, "qualifier"));
    if (q) {
        char esc[256];
        if (cli_escape(q, esc, sizeof(esc)) < 0) {
            json_decref(body);
            return frost_err_set(&d->err, 400, "InvalidArgument", "%s.qualifier: too long",
                                 k->field);
        }
        snprintf(query, sizeof(query), "?qualifier=%s", esc);
        json_object_del(body, "qualifier");
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s%s", fpath, k->path, query);
    json_t *cur = NULL;
    int found = get_maybe(d, path, k->not_found, &cur);
    if (found < 0) {
        json_decref(body);
        return -1;
    }
    json_t *changed = NULL;
    if (found) {
        json_t *next = NULL;
        struct frost_err local = {0};
        changed = k->normalise(body, &next, &local) == 0 ? diff_keys(cur, next, output_only)
                                                         : keys_of(body);
        json_decref(next);
        json_decref(cur);
        if (json_array_size(changed) == 0) {
            json_decref(body);
            record(d, fn, k->field, q ? q : "", "unchanged", changed, NULL);
            return 0;
        }
    }
    int rc = request(d, "PUT", path, body, NULL);
    json_decref(body);
    if (rc < 0) {
        json_decref(changed);
        return -1;
    }
    record(d, fn, k->field, q ? q : "", found ? "updated" : "created", changed, NULL);
    return 0;
}

static int deploy_resource(struct deploy *d, const struct spec_syaml_resource *r,
                           const struct code_pkg *pkg)
{
    const char *fn = json_string_value(json_object_get(r->function, "functionName"));
    char esc[256], fpath[512];
    if (cli_escape(fn, esc, sizeof(esc)) < 0)
        return frost_err_set(&d->err, 400, "InvalidArgument", "functionName too long");
    snprintf(fpath, sizeof(fpath), FC "/functions/%s", esc);
    if (deploy_function(d, r, pkg, fn, fpath) < 0)
        return frost_err_prefix(&d->err, "function %s", fn);
    size_t i;
    json_t *t;
    json_array_foreach(r->triggers, i, t)
    {
        if (deploy_trigger(d, fn, fpath, t) < 0)
            return frost_err_prefix(&d->err, "function %s, trigger %s", fn,
                                    json_string_value(json_object_get(t, "triggerName")));
    }
    if (report_other_triggers(d, fn, fpath, r->triggers) < 0)
        return frost_err_prefix(&d->err, "function %s, listing triggers", fn);
    const json_t *cfgs[] = {r->async_invoke_config, r->concurrency_config, r->provision_config};
    for (size_t k = 0; k < ARRAY_LEN(config_kinds); k++) {
        if (cfgs[k] && deploy_config(d, fn, fpath, &config_kinds[k], cfgs[k]) < 0)
            return frost_err_prefix(&d->err, "function %s, %s", fn, config_kinds[k].field);
    }
    return 0;
}

/* ---- output --------------------------------------------------------------- */

static void print_table(const json_t *changes)
{
    struct cli_table *t = cli_table_new();
    if (!t || cli_table_row(t, "FUNCTION", "OBJECT", "NAME", "RESULT", "DETAIL", NULL) < 0) {
        cli_table_free(t);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach(changes, i, row)
    {
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *result = json_string_value(json_object_get(row, "result"));
        const char *url = json_string_value(json_object_get(row, "url"));
        json_t *changed = json_object_get(row, "changed");
        struct buf detail = BUF_INIT(4096);
        int rc = 0;
        if (strcmp(result, "updated") == 0 && json_array_size(changed)) {
            rc = buf_append_str(&detail, "changed: ");
            for (size_t k = 0; rc == 0 && k < json_array_size(changed); k++)
                rc = buf_printf(&detail, "%s%s", k ? ", " : "",
                                json_string_value(json_array_get(changed, k)));
        } else if (strcmp(result, "kept") == 0) {
            rc = buf_append_str(&detail, "not in the s.yaml; left as it is");
        }
        json_t *size = json_object_get(row, "codeSize");
        if (rc == 0 && size)
            rc = buf_printf(&detail, "%scode %" JSON_INTEGER_FORMAT " bytes, sha256 %.12s",
                            detail.len ? "; " : "", json_integer_value(size),
                            json_string_value(json_object_get(row, "codeChecksum")));
        if (rc == 0 && url)
            rc = buf_printf(&detail, "%s%s", detail.len ? "; " : "", url);
        const char *obj = strcmp(kind, "function") == 0            ? "function"
                          : strcmp(kind, "trigger") == 0           ? "trigger"
                          : strcmp(kind, "asyncInvokeConfig") == 0 ? "async-invoke-config"
                          : strcmp(kind, "concurrencyConfig") == 0 ? "concurrency-config"
                                                                   : "provision-config";
        if (cli_table_row(t, json_string_value(json_object_get(row, "functionName")), obj,
                          name && *name && strcmp(kind, "function") != 0 ? name : "-", result,
                          detail.data ? detail.data : "", NULL) < 0) {
            buf_free(&detail);
            cli_table_free(t);
            return;
        }
        buf_free(&detail);
    }
    cli_table_print(t, stdout);
}

static void print_summary(const struct deploy *d, const char *template, const struct spec_syaml *sy,
                          bool json, bool failed)
{
    if (json) {
        json_t *out =
            json_pack("{s:s, s:s, s:O, s:O}", "template", template, "endpoint",
                      cli_client_endpoint(d->client), "changes", d->changes, "notes", sy->notes);
        if (out && failed)
            json_object_set_new(
                out, "error", json_pack("{s:s, s:s}", "code", d->err.code, "message", d->err.msg));
        char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(out);
        return;
    }
    if (json_array_size(d->changes))
        print_table(d->changes);
    if (!failed)
        printf("\ndeployed %s to %s\n", template, cli_client_endpoint(d->client));
}

/* ---- command -------------------------------------------------------------- */

static const char *default_template(void)
{
    if (access("s.yaml", F_OK) == 0)
        return "s.yaml";
    if (access("s.yml", F_OK) == 0)
        return "s.yml";
    return NULL;
}

static bool selected(const struct spec_syaml_resource *r, const char *only)
{
    if (!only)
        return true;
    const char *fn = json_string_value(json_object_get(r->function, "functionName"));
    return strcmp(r->name, only) == 0 || (fn && strcmp(fn, only) == 0);
}

int cli_deploy(int argc, char **argv)
{
    enum { O_JSON = 256, O_FUNCTION, O_SKIP_PUSH };
    static const struct option opts[] = {
        {"template", required_argument, NULL, 't'},
        {"assume-yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, O_JSON},
        {"function", required_argument, NULL, O_FUNCTION},
        {"access", required_argument, NULL, 'a'},
        {"skip-push", required_argument, NULL, O_SKIP_PUSH},
        {"help", no_argument, NULL, 'h'},
        CLI_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli_flags flags = {0};
    const char *template = NULL, *only = NULL;
    bool json = false;
    int o;
    cli_opts_begin();
    while ((o = cli_next_opt(&flags, argc, argv, "t:ya:h", opts)) != -1) {
        switch (o) {
        case 't':
            template = optarg;
            break;
        case 'y':
        case 'a':
        case O_SKIP_PUSH:
            break;
        case O_JSON:
            json = true;
            break;
        case O_FUNCTION:
            only = optarg;
            break;
        case 'h':
            fputs(deploy_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("deploy", "unknown option or missing value in \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("deploy", "unexpected argument \"%s\"", argv[optind]);
    if (!template && !(template = default_template())) {
        fprintf(stderr, "frost deploy: no s.yaml or s.yml in this folder; pass -t FILE\n");
        return CLI_EXIT_USAGE;
    }

    struct deploy d = {0};
    struct spec_syaml *sy = NULL;
    struct code_pkg *pkgs = NULL;
    int rc = CLI_EXIT_USAGE;
    if (spec_syaml_load(template, environ, &sy, &d.err) < 0) {
        cli_print_error(&d.err);
        return CLI_EXIT_USAGE;
    }
    size_t i;
    json_t *n;
    json_array_foreach(sy->notes, i, n)
    {
        fprintf(stderr, "frost: note: %s\n", json_string_value(n));
    }
    size_t chosen = 0;
    for (i = 0; i < sy->n_resources; i++)
        chosen += selected(&sy->resources[i], only);
    if (chosen == 0) {
        fprintf(stderr, "frost deploy: %s has no resource or function named \"%s\"\n", template,
                only);
        goto out;
    }
    pkgs = calloc(sy->n_resources, sizeof(*pkgs));
    if (!pkgs) {
        fprintf(stderr, "frost: out of memory\n");
        goto out;
    }
    /* Every package is made before anything is sent: a bad folder changes nothing. */
    for (i = 0; i < sy->n_resources; i++) {
        if (selected(&sy->resources[i], only) &&
            prepare_code(&sy->resources[i], &pkgs[i], &d.err) < 0) {
            cli_print_error(&d.err);
            goto out;
        }
    }
    if (cli_client_new(&flags, environ, &d.client, &d.err) < 0) {
        cli_print_error(&d.err);
        goto out;
    }
    d.changes = json_array();
    if (!d.changes) {
        fprintf(stderr, "frost: out of memory\n");
        goto out;
    }
    rc = CLI_EXIT_OK;
    for (i = 0; i < sy->n_resources && rc == CLI_EXIT_OK; i++) {
        if (selected(&sy->resources[i], only) &&
            deploy_resource(&d, &sy->resources[i], &pkgs[i]) < 0)
            rc = CLI_EXIT_API;
    }
    print_summary(&d, template, sy, json, rc != CLI_EXIT_OK);
    if (rc != CLI_EXIT_OK)
        cli_print_error(&d.err);
out:
    if (pkgs)
        for (i = 0; i < sy->n_resources; i++)
            free(pkgs[i].b64);
    free(pkgs);
    json_decref(d.changes);
    cli_client_free(d.client);
    spec_syaml_free(sy);
    return rc;
}
