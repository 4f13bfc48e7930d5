/*
 * grammar.h - compiles a form's JSON Schema into a llama.cpp GBNF grammar.
 *
 * Every string the grammar generates is compact JSON that validates against
 * the schema (schema/validate.h), so output sampled under it needs no repair.
 * The grammar generates a subset of the valid documents, never more: where an
 * exact translation would be too large it generates fewer values (shorter
 * strings, smaller numbers, fewer fraction digits), and a schema it cannot
 * translate safely is refused. grammar.c's opening comment lists the subset.
 */
#ifndef FMD_AI_GRAMMAR_H
#define FMD_AI_GRAMMAR_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * Appends to out the GBNF text for schema (only read): one rule a line, the
 * start rule named "root", no whitespace between JSON tokens.
 *
 * Fails with FMD_EINVAL and a message naming the keyword and the JSON Pointer
 * of the subschema ("'not' is not supported at '/properties/age'") for a
 * schema outside the subset, one no value satisfies, or a local $ref cycle;
 * FMD_ETOOBIG when the grammar would not fit in out's maximum; FMD_ENOMEM.
 * On failure out is as it was.
 */
int ai_grammar_from_schema(const json_t *schema, struct buf *out, struct fmd_err *err);

#endif
