/* Serverless Devs `s.yaml` files (edition 3.0.0, component fc3) read into the
 * FC 3.0 API inputs `frost deploy` sends. docs/deploy.md lists the subset
 * read and the decisions taken.
 *
 * What is read:
 *   edition: 3.0.0          required; other editions are refused
 *   name, access            kept (access is an `s` concept: Frost ignores it)
 *   vars: {…}               ${vars.NAME} in any string below
 *   resources.<name>:
 *     component: fc3        or fc3@<version>; anything else is refused
 *     props:                function fields (FC 3.0 names) plus region, code,
 *                           triggers, asyncInvokeConfig, concurrencyConfig,
 *                           provisionConfig
 *
 * Scalars are typed like YAML 1.2's core schema: a plain 1024 is a JSON
 * number, true/false a bool, null/~ null, anything quoted or block-styled a
 * string. Values of environmentVariables are always strings (they are
 * environment variables). Inside strings ${vars.NAME}, ${env(NAME)} and
 * ${env.NAME} are replaced; a string that is exactly one ${vars.NAME} takes
 * the variable's value with its type, and a plain scalar is typed again after
 * replacement (memorySize: ${env(MEM)} gives a number). Unknown props are
 * kept as they are.
 *
 * Errors are 400 "InvalidTemplate" with messages "PATH:LINE: what", PATH
 * being the path the caller gave. Parsing keeps no global state: any thread
 * may call these functions. */
#ifndef FROST_SPEC_SYAML_H
#define FROST_SPEC_SYAML_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "base/util.h"

/* Largest s.yaml read; a bigger file is refused before parsing. */
#define SPEC_SYAML_MAX_BYTES (4u << 20)

struct spec_syaml_resource {
    char *name;    /* the key under resources */
    unsigned line; /* line of that key, for messages */
    char *region;  /* props.region; NULL when absent (Frost has one region) */
    /* CreateFunctionInput: props without region, code, triggers and the
     * three configs. functionName is present (required). */
    json_t *function;
    /* props.code as a string: the path of a folder or a .zip file, resolved
     * against the s.yaml's folder (absolute paths stay). NULL when absent. */
    char *code_path;
    /* props.code given as a mapping (an InputCodeLocation such as
     * {ossBucketName, ossObjectName}): passed through. NULL otherwise. */
    json_t *code;
    /* CreateTriggerInput objects; triggerConfig is a JSON string (the file
     * may give a mapping). Never NULL, maybe empty. */
    json_t *triggers;
    json_t *async_invoke_config; /* NULL when absent */
    json_t *concurrency_config;  /* NULL when absent */
    json_t *provision_config;    /* without `mode` (CLI-only); NULL when absent */
};

struct spec_syaml {
    char *name;   /* top-level name; NULL when absent */
    char *access; /* top-level access; NULL when absent */
    json_t *vars; /* object, never NULL */
    struct spec_syaml_resource *resources;
    size_t n_resources; /* at least 1 */
    /* Array of strings: things read but ignored ("s.yaml:12: …"), for the
     * caller to show. Never NULL. */
    json_t *notes;
};

/* Parses len bytes of text. path names the file in messages and anchors
 * relative code paths (its folder; "s.yaml" means the current one). envp is
 * the environment ${env(…)} reads (NULL = empty), in environ's format. On
 * success *out is owned by the caller (spec_syaml_free). */
FROST_WUR int spec_syaml_parse(const char *text, size_t len, const char *path, char *const *envp,
                               struct spec_syaml **out, struct frost_err *err);

/* Reads the file at path (at most SPEC_SYAML_MAX_BYTES) and parses it. I/O
 * problems are 400 "InvalidTemplate" too (the path is what the user gave). */
FROST_WUR int spec_syaml_load(const char *path, char *const *envp, struct spec_syaml **out,
                              struct frost_err *err);

void spec_syaml_free(struct spec_syaml *s);

#endif
