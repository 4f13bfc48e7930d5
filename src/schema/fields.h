/*
 * fields.h - the "fields" shorthand for forms, compiled to JSON Schema 2020-12.
 *
 * The shorthand (docs/api.md, "Forms") is an array of field objects:
 *   [{"name": "age", "type": "integer", "min": 18, "required": true}, ...]
 * and compiles to
 *   {"$schema": "https://json-schema.org/draft/2020-12/schema",
 *    "type": "object", "properties": {"age": {"type": "integer", ...}},
 *    "required": ["age"], "additionalProperties": false,
 *    "allOf": [...one if/then entry per condition...]}
 * ("allOf" only when some field has a condition). The mapping of each field
 * type and member is the table at the top of fields.c.
 */
#ifndef FMD_SCHEMA_FIELDS_H
#define FMD_SCHEMA_FIELDS_H

#include <jansson.h>

#include "core/err.h"

/* Most fields one form may have. */
#define FIELDS_MAX 500

/*
 * Compiles the fields array into a new schema *schema_out (the caller
 * decrefs; NULL on failure). fields is only read.
 *
 * Fails with FMD_EUNPROC and a message naming the field by its 1-based
 * position and its name, such as "field 2 ('age'): 'min' must be a number",
 * when fields is not a non-empty array of at most FIELDS_MAX objects, or a
 * field has a missing, malformed or duplicate name, an unknown type, a member
 * unknown or not applicable to its type, a member of the wrong JSON type,
 * min above max, select options that are empty or repeated, a pattern that
 * does not compile, or a condition naming an unknown field or itself; fails
 * with FMD_ENOMEM.
 */
int fields_compile(const json_t *fields, json_t **schema_out, struct fmd_err *err);

#endif
