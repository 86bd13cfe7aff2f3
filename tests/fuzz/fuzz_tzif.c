/* libFuzzer target: the TZif reader (RFC 8536) and the POSIX TZ strings of
 * its footer, then lookups and local<->UTC conversions on what parsed. */
#include <stddef.h>
#include <stdint.h>

#include "scale/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct scale_tz *tz = NULL;
    struct frost_err err = {0};
    if (scale_tz_parse("fuzz", d, n, &tz, &err) == 0) {
        static const int64_t probes[] = {-2208988800LL, 0, 1710054000LL, 1730613600LL, 4102444800LL,
                                         253402300799LL};
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
            (void)scale_tz_offset(tz, probes[i]);
            (void)scale_tz_to_utc(tz, probes[i]);
        }
        scale_tz_free(tz);
    }
    return 0;
}
