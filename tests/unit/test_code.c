/* Unit tests for code packages (spec/code): zips built here with libzip,
 * stored into a mkdtemp directory that is removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "base/codec.h"
#include "base/err.h"
#include "spec/code.h"

enum { F, D, L }; /* file, directory, symlink */

/* snprintf into an array, failing the test on truncation */
#define PATHF(buf, ...) assert_true((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) < sizeof(buf))

struct zent {
    const char *name;
    const char *data; /* file content or symlink target */
    uint32_t mode;    /* unix permission bits, 0 = leave libzip's default attributes */
    int kind;
};

struct bytes {
    unsigned char *p;
    size_t n;
};

static struct bytes make_zip_ex(const struct zent *e, size_t n, const char *password)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    assert_non_null(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(src);
    for (size_t i = 0; i < n; i++) {
        zip_int64_t idx;
        if (e[i].kind == D) {
            idx = zip_dir_add(za, e[i].name, ZIP_FL_ENC_UTF_8);
        } else {
            const char *d = e[i].data ? e[i].data : "";
            zip_source_t *s = zip_source_buffer(za, d, strlen(d), 0);
            assert_non_null(s);
            idx = zip_file_add(za, e[i].name, s, ZIP_FL_ENC_UTF_8);
            if (idx < 0)
                zip_source_free(s);
        }
        if (idx < 0)
            fail_msg("adding %s: %s", e[i].name, zip_strerror(za));
        uint32_t type = e[i].kind == L ? S_IFLNK : e[i].kind == D ? S_IFDIR : S_IFREG;
        if (e[i].mode || e[i].kind == L)
            assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0,
                                                              ZIP_OPSYS_UNIX,
                                                              (type | e[i].mode) << 16),
                             0);
        if (password && e[i].kind == F)
            assert_int_equal(
                zip_file_set_encryption(za, (zip_uint64_t)idx, ZIP_EM_AES_256, password), 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_open(src), 0);
    assert_int_equal(zip_source_seek(src, 0, SEEK_END), 0);
    zip_int64_t len = zip_source_tell(src);
    assert_true(len > 0);
    assert_int_equal(zip_source_seek(src, 0, SEEK_SET), 0);
    struct bytes b = {malloc((size_t)len), (size_t)len};
    assert_non_null(b.p);
    assert_int_equal(zip_source_read(src, b.p, (zip_uint64_t)len), len);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    return b;
}

static struct bytes make_zip(const struct zent *e, size_t n)
{
    return make_zip_ex(e, n, NULL);
}

static char *to_b64(struct bytes b)
{
    char *s = malloc(codec_base64_encoded_len(b.n) + 1);
    assert_non_null(s);
    codec_base64_encode(b.p, b.n, s);
    return s;
}

/* ---- fixture: a scratch directory --------------------------------------- */

struct fx {
    char root[64];
    char code_dir[128];
};

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            PATHF(sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/frost-test-code-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->code_dir, sizeof(f->code_dir), "%s/code", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rm_rf(f->root);
    free(f);
    return 0;
}

static size_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int store(struct fx *f, struct bytes zip, const struct spec_code_limits *lim,
                 struct spec_code_info *info, struct frost_err *err)
{
    char *b64 = to_b64(zip);
    frost_err_clear(err);
    int rc = spec_code_store(f->code_dir, b64, strlen(b64), lim, info, err);
    free(b64);
    return rc;
}

/* Stores zip, expects 400 InvalidArgument mentioning `needle`, and checks that
 * nothing was left behind. */
static void expect_reject(struct fx *f, struct bytes zip, const struct spec_code_limits *lim,
                          const char *needle)
{
    struct spec_code_info info;
    struct frost_err err = {0};
    int rc = store(f, zip, lim, &info, &err);
    if (rc != -1 || err.status != 400 || strcmp(err.code, "InvalidArgument") != 0 ||
        strncmp(err.msg, "code.zipFile: ", 14) != 0 || !strstr(err.msg, needle))
        fail_msg("expected a rejection mentioning '%s', got rc=%d %d %s: %s", needle, rc,
                 err.status, err.code, err.msg);
    assert_int_equal(count_dir(f->code_dir), 0);
    free(zip.p);
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static mode_t mode_of(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    PATHF(p, "%s/%s", dir, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode;
}

/* ---- tests -------------------------------------------------------------- */

static const struct zent tree[] = {
    {"bootstrap", "#!/bin/sh\nexec ./server\n", 0755, F},
    {"index.js", "exports.handler = () => 1;\n", 0644, F},
    {"lib/", NULL, 0755, D},
    {"lib/util/helper.js", "module.exports = 2;\n", 0, F}, /* parent made implicitly */
    {"lib/current", "util", 0777, L},                      /* inside: allowed */
    {"bin/tool", "../bootstrap", 0777, L},                 /* up one, inside: allowed */
    {"data/", NULL, 0700, D},
    {"suid", "x", 04777, F},     /* setuid and world-writable: dropped */
    {"shared", "y", 0666, F},    /* world-writable: dropped */
    {"./dot/./file", "z", 0, F}, /* "." components are dropped */
};

static void test_store_tree(void **state)
{
    struct fx *f = *state;
    struct bytes zip = make_zip(tree, sizeof(tree) / sizeof(tree[0]));
    char want_sum[65];
    assert_int_equal(codec_sha256_hex(zip.p, zip.n, want_sum), 0);

    /* modes come out exact whatever the umask */
    mode_t old = umask(077);
    struct spec_code_info info;
    struct frost_err err = {0};
    int rc = store(f, zip, NULL, &info, &err);
    umask(old);
    if (rc != 0)
        fail_msg("%d %s: %s", err.status, err.code, err.msg);

    assert_string_equal(info.checksum, want_sum);
    assert_int_equal(info.zip_size, zip.n);
    assert_int_equal(info.entries, sizeof(tree) / sizeof(tree[0]));
    uint64_t want_size = 0;
    for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
        want_size += tree[i].data ? strlen(tree[i].data) : 0;
    assert_int_equal(info.unpacked_size, want_size);

    char p[PATH_MAX];
    PATHF(p, "%s/%s.zip", f->code_dir, want_sum);
    assert_string_equal(info.zip_path, p);
    PATHF(p, "%s/%s", f->code_dir, want_sum);
    assert_string_equal(info.path, p);

    /* the stored zip is the upload, byte for byte */
    struct stat st;
    assert_int_equal(stat(info.zip_path, &st), 0);
    assert_int_equal((size_t)st.st_size, zip.n);
    assert_int_equal(st.st_mode & 07777, 0644);
    unsigned char *back = malloc(zip.n);
    FILE *fp = fopen(info.zip_path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, zip.n, fp), zip.n);
    fclose(fp);
    assert_memory_equal(back, zip.p, zip.n);
    free(back);

    char buf[256];
    PATHF(p, "%s/bootstrap", info.path);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "#!/bin/sh\nexec ./server\n");
    PATHF(p, "%s/lib/util/helper.js", info.path);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "module.exports = 2;\n");
    PATHF(p, "%s/dot/file", info.path);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "z");

    assert_int_equal(mode_of(info.path, "") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "bootstrap") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "index.js") & 07777, 0644);
    assert_int_equal(mode_of(info.path, "lib/util/helper.js") & 07777, 0644);
    assert_int_equal(mode_of(info.path, "lib") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "lib/util") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "bin") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "data") & 07777, 0755);
    assert_true(S_ISDIR(mode_of(info.path, "data")));
    assert_int_equal(mode_of(info.path, "suid") & 07777, 0755);
    assert_int_equal(mode_of(info.path, "shared") & 07777, 0644);

    assert_true(S_ISLNK(mode_of(info.path, "lib/current")));
    PATHF(p, "%s/lib/current", info.path);
    ssize_t n = readlink(p, buf, sizeof(buf));
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "util", 4);
    PATHF(p, "%s/bin/tool", info.path);
    read_file(p, buf, sizeof(buf)); /* resolves to bootstrap */
    assert_string_equal(buf, "#!/bin/sh\nexec ./server\n");

    /* the same content again: same checksum, nothing new, no leftovers */
    struct spec_code_info again;
    assert_int_equal(store(f, zip, NULL, &again, &err), 0);
    assert_string_equal(again.checksum, info.checksum);
    assert_int_equal(again.unpacked_size, info.unpacked_size);
    assert_string_equal(again.path, info.path);
    assert_int_equal(count_dir(f->code_dir), 2);

    /* a lost tree is restored from a re-upload */
    rm_rf(info.path);
    assert_int_equal(store(f, zip, NULL, &again, &err), 0);
    PATHF(p, "%s/index.js", info.path);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "exports.handler = () => 1;\n");
    assert_int_equal(count_dir(f->code_dir), 2);

    /* different content, a second package beside it */
    const struct zent other[] = {{"index.js", "v2", 0644, F}};
    struct bytes z2 = make_zip(other, 1);
    assert_int_equal(store(f, z2, NULL, &again, &err), 0);
    assert_string_not_equal(again.checksum, info.checksum);
    assert_int_equal(count_dir(f->code_dir), 4);
    free(z2.p);
    free(zip.p);
}

static void test_zip_slip(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name, *needle;
    } cases[] = {
        {"../x", "'..'"},       {"a/../../x", "'..'"},    {"a/..", "'..'"},
        {"..\\x", "'..'"}, /* Windows separators read as "/" */
        {"/etc/x", "absolute"}, {"\\etc\\x", "absolute"}, {"bad\nname", "control character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct zent e[] = {{"ok.txt", "fine", 0644, F}, {cases[i].name, "evil", 0644, F}};
        expect_reject(f, make_zip(e, 2), NULL, cases[i].needle);
    }
    /* nothing was written anywhere near the scratch directory */
    struct stat st;
    char p[PATH_MAX];
    PATHF(p, "%s/x", f->root);
    assert_int_equal(stat(p, &st), -1);
}

static void test_symlinks(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name, *target, *needle;
    } bad[] = {
        {"link", "/etc/passwd", "absolute"},
        {"link", "..", "outside"},
        {"a/link", "../../x", "outside"},
        {"a/b/link", "../../../etc", "outside"},
        {"a/link", "b/../..", "'..' may only lead"}, /* "b" could be a link itself */
        {"link", "", "empty target"},
        {"link", "x\ny", "control character"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct zent e[] = {{bad[i].name, bad[i].target, 0777, L}};
        expect_reject(f, make_zip(e, 1), NULL, bad[i].needle);
    }

    /* a link into a directory, then an entry written through it */
    const struct zent through[] = {
        {"real/", NULL, 0755, D},
        {"d", "real", 0777, L},
        {"d/x", "escape?", 0644, F},
    };
    expect_reject(f, make_zip(through, 3), NULL, "passes through a file or symlink");

    /* a file where a directory is needed */
    const struct zent clash[] = {{"a", "file", 0644, F}, {"a/b", "x", 0644, F}};
    expect_reject(f, make_zip(clash, 2), NULL, "passes through");

    /* the same path twice (libzip refuses equal names, so spell it twice) */
    const struct zent twice[] = {{"a", "1", 0644, F}, {"./a", "2", 0644, F}};
    expect_reject(f, make_zip(twice, 2), NULL, "appears twice");

    /* allowed: leading ".." within depth, plain names, "." */
    const struct zent ok[] = {
        {"a/b/c/file", "deep", 0644, F},
        {"a/b/up2", "../../a/b/c/file", 0777, L},
        {"a/self", ".", 0777, L},
        {"a/b/c/dangling", "missing/but/inside", 0777, L},
    };
    struct bytes z = make_zip(ok, 4);
    struct spec_code_info info;
    struct frost_err err = {0};
    if (store(f, z, NULL, &info, &err) != 0)
        fail_msg("%s", err.msg);
    char p[PATH_MAX], buf[64];
    PATHF(p, "%s/a/b/up2", info.path);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "deep");
    free(z.p);
}

static void test_special_files(void **state)
{
    struct fx *f = *state;
    zip_error_t ze;
    zip_error_init(&ze);
    /* a FIFO entry: build a file entry and mark it S_IFIFO */
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_source_keep(src);
    zip_source_t *s = zip_source_buffer(za, "", 0, 0);
    zip_int64_t idx = zip_file_add(za, "fifo", s, 0);
    assert_true(idx >= 0);
    assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                                      (uint32_t)(S_IFIFO | 0644) << 16),
                     0);
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_open(src), 0);
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t len = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    struct bytes b = {malloc((size_t)len), (size_t)len};
    assert_int_equal(zip_source_read(src, b.p, (zip_uint64_t)len), len);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    expect_reject(f, b, NULL, "device, FIFO or socket");
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    char big[2001];
    memset(big, 'A', 2000);
    big[2000] = '\0';

    /* declared unpacked size */
    const struct zent e[] = {{"big", big, 0644, F}};
    struct spec_code_limits lim = {.max_unpacked_bytes = 1000};
    expect_reject(f, make_zip(e, 1), &lim, "declared sizes");
    /* the sum counts, not one entry */
    const struct zent two[] = {{"a", big + 1400, 0644, F}, {"b", big + 1400, 0644, F}};
    expect_reject(f, make_zip(two, 2), &lim, "declared sizes");
    /* exactly at the limit is fine */
    lim.max_unpacked_bytes = 2000;
    struct bytes z = make_zip(e, 1);
    struct spec_code_info info;
    struct frost_err err = {0};
    assert_int_equal(store(f, z, &lim, &info, &err), 0);
    assert_int_equal(info.unpacked_size, 2000);
    free(z.p);
    rm_rf(f->code_dir);

    /* zip size, checked before decoding */
    z = make_zip(e, 1);
    lim = (struct spec_code_limits){.max_zip_bytes = z.n - 1};
    expect_reject(f, z, &lim, "more than the limit");

    /* entry count */
    const struct zent three[] = {{"a", "1", 0, F}, {"b", "2", 0, F}, {"c/", NULL, 0, D}};
    lim = (struct spec_code_limits){.max_entries = 2};
    expect_reject(f, make_zip(three, 3), &lim, "entries");
}

static size_t find_sig(const struct bytes *b, const char *sig, size_t from)
{
    for (size_t i = from; i + 4 <= b->n; i++) {
        if (memcmp(b->p + i, sig, 4) == 0)
            return i;
    }
    fail_msg("signature not found");
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* A zip bomb lies about its sizes: the headers say 100 bytes, the deflate
 * stream holds 100000. The actual byte count stops it. */
static void test_actual_size_lies(void **state)
{
    struct fx *f = *state;
    char *big = malloc(100001);
    memset(big, 'A', 100000);
    big[100000] = '\0';
    const struct zent e[] = {{"bomb", big, 0644, F}};
    struct bytes z = make_zip(e, 1);
    free(big);
    size_t local = find_sig(&z, "PK\x03\x04", 0);
    size_t central = find_sig(&z, "PK\x01\x02", local + 4);
    put32(z.p + local + 22, 100);
    put32(z.p + central + 24, 100);
    struct spec_code_limits lim = {.max_unpacked_bytes = 1000};
    expect_reject(f, z, &lim, "bomb");
}

static void test_corrupt(void **state)
{
    struct fx *f = *state;
    char text[4001];
    for (int i = 0; i < 4000; i++)
        text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    text[4000] = '\0';
    const struct zent e[] = {{"a.txt", text, 0644, F}};

    /* bytes flipped inside the compressed data: CRC or inflate error */
    struct bytes z = make_zip(e, 1);
    size_t local = find_sig(&z, "PK\x03\x04", 0);
    size_t data = local + 30 + 5; /* 30-byte header, 5-byte name */
    for (size_t i = data + 10; i < data + 40; i++)
        z.p[i] ^= 0x55;
    expect_reject(f, z, NULL, "corrupt");

    /* truncated */
    z = make_zip(e, 1);
    z.n /= 2;
    expect_reject(f, z, NULL, "not a valid zip");

    /* not a zip at all */
    struct bytes junk = {(unsigned char *)strdup("this is not a zip archive, just text"), 36};
    expect_reject(f, junk, NULL, "not a valid zip");
}

static void test_not_base64(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {"!!!!", "UEsDBA=", "UEsD BA==", "UEsDBA==\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct spec_code_info info;
        struct frost_err err = {0};
        assert_int_equal(spec_code_store(f->code_dir, bad[i], strlen(bad[i]), NULL, &info, &err),
                         -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "InvalidArgument");
        assert_string_equal(err.msg, "code.zipFile: not valid base64");
    }
    struct spec_code_info info;
    struct frost_err err = {0};
    assert_int_equal(spec_code_store(f->code_dir, "", 0, NULL, &info, &err), -1);
    assert_string_equal(err.msg, "code.zipFile: empty");
    assert_int_equal(count_dir(f->code_dir), 0);
}

static void test_encrypted(void **state)
{
    struct fx *f = *state;
    if (!zip_encryption_method_supported(ZIP_EM_AES_256, 1))
        skip();
    const struct zent e[] = {{"secret.txt", "hidden", 0644, F}};
    expect_reject(f, make_zip_ex(e, 1, "pw"), NULL, "encrypted");
}

static void test_empty_zip(void **state)
{
    struct fx *f = *state;
    /* an empty archive is a valid (if useless) package: 22 bytes */
    static const unsigned char eocd[22] = {'P', 'K', 5, 6};
    struct bytes b = {malloc(22), 22};
    memcpy(b.p, eocd, 22);
    struct spec_code_info info;
    struct frost_err err = {0};
    if (store(f, b, NULL, &info, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(info.entries, 0);
    assert_int_equal(info.unpacked_size, 0);
    assert_int_equal(count_dir(info.path), 0);
    free(b.p);
}

struct race {
    const char *code_dir;
    const char *b64;
    int rc;
    struct spec_code_info info;
    struct frost_err err;
};

static void *race_store(void *arg)
{
    struct race *r = arg;
    r->rc = spec_code_store(r->code_dir, r->b64, strlen(r->b64), NULL, &r->info, &r->err);
    return NULL;
}

/* Identical uploads at the same moment: all succeed, one copy is kept, no
 * temporary leftovers. */
static void test_concurrent_same_content(void **state)
{
    struct fx *f = *state;
    struct zent e[40];
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "d%d/f%d", i % 5, i);
        e[i] = (struct zent){names[i], "some content for the file", 0644, F};
    }
    struct bytes z = make_zip(e, 40);
    char *b64 = to_b64(z);
    struct race r[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        r[i] = (struct race){.code_dir = f->code_dir, .b64 = b64};
        assert_int_equal(pthread_create(&t[i], NULL, race_store, &r[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (r[i].rc != 0)
            fail_msg("thread %d: %s", i, r[i].err.msg);
        assert_string_equal(r[i].info.checksum, r[0].info.checksum);
    }
    assert_int_equal(count_dir(f->code_dir), 2);
    assert_int_equal(count_dir(r[0].info.path), 5);
    free(b64);
    free(z.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_slip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actual_size_lies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_base64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_same_content, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
