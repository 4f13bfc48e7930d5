/*
 * validate.h - JSON Schema 2020-12 validation of JSON instances.
 *
 * A schema document is compiled once into a program (references resolved,
 * patterns compiled, property tables hashed; see validate.c) and then
 * validates any number of instances, from any number of threads at once.
 *
 * The whole 2020-12 vocabulary: core ($id, $schema, $ref, $defs, $anchor,
 * $dynamicRef / $dynamicAnchor, $vocabulary, $comment), applicator, unevaluated
 * (unevaluatedProperties / unevaluatedItems from the annotations of every
 * subschema applied in place), validation, and format. Numbers compare by
 * value and exactly: 1.0 equals 1, integers compare as integers, an integer
 * and a real without rounding, and multipleOf works on the decimal a real was
 * written as (the shortest one that reads back as the same double), so 19.99
 * is a multiple of 0.01. Integers beyond 64 bits never reach the validator:
 * Jansson refuses them ("too big integer"), so json_parse answers 400.
 * Lengths count code points; pattern is PCRE2 (JIT) in UTF mode with ECMA-262
 * "$" and empty classes.
 * "format" is asserted (email, idn-email, date, time, date-time, duration,
 * uri, uri-reference, iri, iri-reference, uri-template, uuid, ipv4, ipv6,
 * hostname and idn-hostname with IDNA 2008, regex as ECMA-262, json-pointer,
 * relative-json-pointer) unless compiled with SCHEMA_FORMAT_ANNOTATION;
 * unknown formats are ignored. References resolve
 * within the document, then in a schema_registry, then in the built-in
 * 2020-12 meta-schemas; nothing is ever fetched. A root "$schema" naming a
 * meta-schema with "$vocabulary" enables only the vocabularies it lists.
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
 * boolean, nested deeper than 64, a keyword with a value of the wrong type,
 * a pattern that does not compile, a $ref or $dynamicRef that resolves
 * neither within the document nor to a built-in meta-schema, a "$schema"
 * whose $vocabulary requires a vocabulary formd does not know; or with
 * FMD_ENOMEM. *out is NULL on failure. "format" is asserted.
 */
int schema_compile(const json_t *doc, struct schema **out, struct fmd_err *err);

/* Frees s; NULL is fine. */
void schema_free(struct schema *s);

/*
 * The locations of s's sensitive values (formd's "x-sensitive": true
 * annotation, see sensitive.c): an array of JSON Pointers into the instance,
 * such as "/ssn" or "/contact/phone", owned by s; NULL when there are none.
 * Compiling fails (FMD_EUNPROC) for an "x-sensitive" that is not a boolean,
 * on the root, or anywhere but under "properties" from the root down.
 */
const json_t *schema_sensitive(const struct schema *s);

/*
 * One error of a validation. The strings stay valid as long as both the
 * struct schema_errors that holds the error and the schema do.
 */
struct schema_error {
    const char *path;           /* JSON Pointer into the instance, "" for the root */
    const char *schema_path;    /* JSON Pointer to the failing keyword in the schema */
    const char *keyword;
    const char *message;
};

/*
 * The errors of one validation, in the order found: v[0..n). Made for the
 * hot path of rejecting a submission: the first errors and their text live
 * inside the struct itself, so a validation with a few errors allocates
 * nothing, and the fixed parts of each error (schema path, keyword and most
 * messages) were prepared when the schema was compiled. Not to be copied
 * (it points into itself): schema_errors_init, any number of schema_check
 * calls (each starts afresh), schema_errors_release.
 */
struct schema_errors {
    struct schema_error *v;
    size_t n;
    /* private */
    size_t cap;
    struct schema__text *more;      /* text chunks beyond the inline one */
    char *at;                       /* free text */
    size_t left;
    struct schema_error first[16];
    char text[768];
};

void schema_errors_init(struct schema_errors *e);
void schema_errors_release(struct schema_errors *e);

/*
 * Validates instance against s. Returns 0 if it is valid, FMD_EUNPROC if not,
 * FMD_ENOMEM, FMD_EINVAL for a NULL s or instance. With errors not NULL
 * (initialised), every error found goes there, at most SCHEMA_MAX_ERRORS;
 * with errors NULL the validation stops at the first error. The same bounds
 * as schema_validate apply.
 */
int schema_check(const struct schema *s, const json_t *instance, struct schema_errors *errors);

/*
 * The errors of e as a new JSON array of {"path", "schema_path", "keyword",
 * "message"} objects into *out (the caller decrefs). 0 or FMD_ENOMEM.
 */
int schema_errors_json(const struct schema_errors *e, json_t **out);

/*
 * As schema_check, with the errors as a JSON array (schema_errors_json).
 * Returns 0 if it is valid, FMD_EUNPROC if not,
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
 * deep" (keyword "$ref" or "$dynamicRef") and "validation too costly"
 * (keyword "").
 */
int schema_validate(const struct schema *s, const json_t *instance, json_t **errors);

/*
 * A registry of schema documents by absolute URI, from which "$ref" and
 * "$schema" resolve references outside the document being compiled. formd
 * never fetches a URL: a reference that neither the document nor the
 * registry holds does not compile. A registry is filled once, then only read
 * (by any number of compiles at once); a compiled schema keeps its own copies
 * of what it uses, so the registry may be freed before it.
 */
struct schema_registry;

/* A new empty registry into *out (schema_registry_free). 0 or FMD_ENOMEM. */
int schema_registry_new(struct schema_registry **out);

/* Frees reg and its documents; NULL is fine. */
void schema_registry_free(struct schema_registry *reg);

/*
 * Adds a copy of doc (not kept) under uri, an absolute URI without a
 * fragment; the resources doc embeds with "$id" become reachable by theirs.
 * Fails with FMD_EUNPROC for a uri not absolute or already added, or a doc
 * not an object or a boolean; FMD_ENOMEM.
 */
int schema_registry_add(struct schema_registry *reg, const char *uri, const json_t *doc,
                        struct fmd_err *err);

/* schema_compile_ex flags. */
#define SCHEMA_FORMAT_ANNOTATION 0x1u   /* "format" annotates only, asserts nothing */

/*
 * As schema_compile, resolving references outside doc in reg (NULL: none),
 * with flags (SCHEMA_*). schema_compile(doc, out, err) is
 * schema_compile_ex(doc, NULL, 0, out, err).
 */
int schema_compile_ex(const json_t *doc, const struct schema_registry *reg, unsigned flags,
                      struct schema **out, struct fmd_err *err);

#endif
