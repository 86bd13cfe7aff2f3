/* libFuzzer target: the Serverless Devs s.yaml reader (YAML, ${vars}/${env}
 * substitution, typing of scalars, resources and their props). */
#include <stddef.h>
#include <stdint.h>

#include "spec/syaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static char *const envp[] = {"HOME=/root", "MODEL=resnet", NULL};
    struct spec_syaml *s = NULL;
    struct frost_err err = {0};
    if (spec_syaml_parse((const char *)d, n, "s.yaml", envp, &s, &err) == 0)
        spec_syaml_free(s);
    return 0;
}
