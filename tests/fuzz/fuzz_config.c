/* libFuzzer target: the YAML config loader (through a file, as users feed it),
 * dump → load round trips, and the value parsers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/frost-fuzz-config-%d.yaml", (int)getpid());
    if (write_file(path, d, n) < 0)
        return 0;
    struct frost_config c;
    struct frost_err err = {0};
    config_defaults(&c);
    if (config_load_file(&c, path, &err) == 0) {
        (void)config_validate(&c, &err);
        struct buf b = BUF_INIT(0);
        if (config_dump(&c, &b) == 0) {
            /* Whatever loads must dump to YAML that loads back to the same dump. */
            if (write_file(path, b.data, b.len) < 0)
                abort();
            struct frost_config c2;
            config_defaults(&c2);
            if (config_load_file(&c2, path, &err) != 0) {
                fprintf(stderr, "round trip failed: %s\n%s\n", err.msg, b.data);
                abort();
            }
            struct buf b2 = BUF_INIT(0);
            if (config_dump(&c2, &b2) != 0 || strcmp(b.data, b2.data) != 0)
                abort();
            buf_free(&b2);
        }
        buf_free(&b);
    }
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, d, n);
    s[n] = 0;
    uint64_t ms;
    size_t sz;
    int bo;
    (void)config_parse_duration_ms(s, &ms);
    (void)config_parse_size(s, &sz);
    (void)config_parse_bool(s, &bo);
    (void)config_set(&c, "listen", s, "fuzz", &err);
    (void)config_validate(&c, &err);
    (void)config_set(&c, s, "1s", "fuzz", &err);
    free(s);
    return 0;
}
