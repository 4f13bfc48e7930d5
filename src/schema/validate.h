/*
 * validate.h - JSON Schema 2020-12 validation of JSON instances.
 *
 * A schema document is compiled once (checked, patterns compiled, local
 * $refs resolved) and then validates any number of instances, from any
 * number of threads at once.
 *
 * Supported: type, enum, const, properties, patternProperties,
 * additionalProperties, propertyNames, required, dependentRequired,
 * dependentSchemas, min/maxProperties, items, prefixItems, min/maxItems,
 * uniqueItems, contains, min/maxContains, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, min/maxLength (in Unicode
 * code points), pattern (PCRE2, ECMA-262 "$" semantics), format (asserted
 * for email, date, time, date-time, uri, uuid, ipv4, ipv6, hostname),
 * allOf, anyOf, oneOf, not, if/then/else, $defs and "$ref" to "#" or any
 * "#/json/pointer" in the same document, boolean schemas. Other keywords
 * are ignored, as the specification says of unknown keywords; "$id" does not
 * change how "$ref" resolves (every "#..." is taken from the document root).
 *
 * Errors: each is {"path": JSON Pointer into the instance ("" for the root),
 * "schema_path": JSON Pointer to the failing keyword in the schema document
 * (after a $ref, the pointer continues from the $ref's target), "keyword",
 * "message"}, for example {"path": "/age", "schema_path":
 * "/properties/age/minimum", "keyword": "minimum", "message": "must be >=
 * 18"}. A missing required property is reported on the object that lacks it
 * ("path": "", "message": "'email' is required"). anyOf, oneOf, not and
 * contains report one error of their own rather than those of their
 * subschemas; allOf, then and else report their subschemas' errors.
 */
#ifndef FMD_SCHEMA_VALIDATE_H
#define FMD_SCHEMA_VALIDATE_H

#include <jansson.h>

#include "core/err.h"

/* Opaque, immutable after compile, safe to use from many threads at once. */
struct schema;

/* Most errors schema_validate lists for one instance. */
#define SCHEMA_MAX_ERRORS 100

/*
 * Compiles doc (not kept: the schema holds its own copy) into *out, which
 * the caller frees with schema_free. Fails with FMD_EUNPROC and a message
 * naming the location for a document it cannot use: not an object or a
 * boolean, nested deeper than 64, a supported keyword with a value of the
 * wrong type, a pattern that does not compile, a $ref that does not resolve
 * within the document; or with FMD_ENOMEM. *out is NULL on failure.
 */
int schema_compile(const json_t *doc, struct schema **out, struct fmd_err *err);

/* Frees s; NULL is fine. */
void schema_free(struct schema *s);

/*
 * Validates instance against s. Returns 0 if it is valid, FMD_EUNPROC if not,
 * FMD_ENOMEM. When it returns FMD_EUNPROC and errors is not NULL, *errors is
 * a new array (the caller decrefs) of every error found, at most
 * SCHEMA_MAX_ERRORS; otherwise *errors is set to NULL. With errors NULL the
 * validation stops at the first error.
 *
 * Evaluation is bounded whatever the schema and instance: a pattern match is
 * limited in steps and depth, $ref chains in depth (64), and the whole
 * validation in steps. Hitting a bound makes the instance invalid with an
 * error saying so, never valid: such an error is not undone by an enclosing
 * "not" or anyOf, and ends the validation. They are "pattern too costly to
 * evaluate" (keyword "pattern" or "patternProperties"), "schema recursion too
 * deep" (keyword "$ref") and "validation too costly" (keyword "").
 */
int schema_validate(const struct schema *s, const json_t *instance, json_t **errors);

#endif
