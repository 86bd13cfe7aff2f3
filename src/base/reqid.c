#include "base/reqid.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static uint32_t node_part;
static uint64_t counter;

static const char hex[] = "0123456789abcdef";

static void put_hex(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
}

void reqid_new(char *out)
{
    if (node_part == 0) {
        uint32_t seed[3] = {0, 0, 0};
        if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
            seed[0] = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&seed;
            seed[1] = (uint32_t)clock();
        }
        node_part = seed[0] | 1u;
        counter = ((uint64_t)seed[1] << 16) & 0xffffffff0000ull;
    }
    counter++;
    out[0] = '1';
    out[1] = '-';
    put_hex(out + 2, (uint64_t)time(NULL), 8);
    out[10] = '-';
    put_hex(out + 11, node_part, 8);
    out[19] = '-';
    put_hex(out + 20, counter, 12);
    out[32] = 0;
}
