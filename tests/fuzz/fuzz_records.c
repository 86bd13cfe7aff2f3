/* libFuzzer target: the documents Frost reads back from its store at
 * start-up and the times users give bills. A damaged or hand-edited store
 * must give errors, never crashes: async task and payload documents
 * (task_from_doc, task_payload_from_doc), usage records (meter_record_parse,
 * key and JSON), and bill times (meter_parse_time, meter_by_parse).
 * The input is split at the first NUL: key, then document. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "async/task.h"
#include "meter/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, d, n);
    s[n] = 0;
    size_t klen = strlen(s);
    const char *key = s, *doc = klen < n ? s + klen + 1 : s;
    struct frost_err err = {0};

    struct task t;
    memset(&t, 0, sizeof(t));
    if (task_from_doc(doc, &t, &err) == 0) {
        char *again = task_doc(&t);
        free(again);
        json_decref(task_api_json(&t, "acs:fc:local:1:functions/f", true));
        (void)task_payload_from_doc(doc, &t, &err);
    }
    task_clear(&t);

    struct meter_record r;
    if (meter_record_parse(key, doc, &r, &err) == 0) {
        char k[512];
        (void)meter_record_key(&r, k, sizeof(k));
        free(meter_record_json(&r));
    }

    int64_t ms;
    (void)meter_parse_time(key, 1795331764552LL, &ms);
    enum meter_by by;
    (void)meter_by_parse(key, &by);
    free(s);
    return 0;
}
