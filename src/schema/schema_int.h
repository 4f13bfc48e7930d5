/*
 * schema_int.h - helpers shared by the files of src/schema/, not for other modules.
 *
 * JSON Schema compares instances by value: 1 and 1.0 are the same number,
 * objects are equal whatever their key order. schema__json_equal and
 * schema__json_hash implement that equality for enum, const, uniqueItems and
 * the fields compiler's option check. The format checks and the pattern check
 * live here so that validate.c and fields.c agree on them.
 *
 * Below them: URI resolution (uri.c), the map of keywords that hold
 * subschemas and the registry's lookup (registry.c), the built-in
 * meta-schemas (metaschema.c), host names (idna.c), and the compiled program
 * that validate.c builds and eval.c runs.
 */
#ifndef FMD_SCHEMA_INT_H
#define FMD_SCHEMA_INT_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "schema/validate.h"

struct schema_registry;

/* 1 if a and b are equal JSON values (numbers compared by value), else 0. */
int schema__json_equal(const json_t *a, const json_t *b);

/* A hash consistent with schema__json_equal: equal values hash equal. */
uint64_t schema__json_hash(const json_t *v);

/* -1, 0 or 1 as number a is below, equal to or above number b; exact for
 * integers beyond 2^53. Both must be JSON numbers. */
int schema__num_cmp(const json_t *a, const json_t *b);

/* 1 if v is a JSON integer or a real with no fractional part, else 0. */
int schema__is_integral(const json_t *v);


/*
 * s[0..n) shortened to quote in a message: at most max bytes, cut at a UTF-8
 * character boundary, "..." appended when cut. dst holds max + 4 bytes.
 */
const char *schema__excerpt(char *dst, const char *s, size_t n, size_t max);

/*
 * The PCRE2 options every schema pattern is compiled with. DOLLAR_ENDONLY
 * gives "$" its ECMA-262 meaning (the end, not also before a final newline);
 * ALLOW_EMPTY_CLASS gives "[]" (nothing) and "[^]" (anything) theirs.
 */
#define SCHEMA__PCRE2_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS)

/* PCRE2 allocator callbacks on fmd_malloc / fmd_free, for general contexts. */
void *schema__pcre2_alloc(PCRE2_SIZE n, void *data);
void schema__pcre2_free(void *p, void *data);

/*
 * Compiles the ECMA-262 pattern pat[0..len) into *out (pcre2_code_free) with
 * cc's allocator. 0; FMD_EUNPROC with PCRE2's reason in why ("missing closing
 * parenthesis at offset 3"); FMD_ENOMEM. *out is NULL on failure.
 */
int schema__regex_compile(const char *pat, size_t len, pcre2_compile_context *cc,
                          pcre2_code **out, char *why, size_t why_size);

/*
 * Checks that pattern[0..len) compiles as schema_compile would compile it.
 * 0; FMD_EUNPROC with the reason in err; FMD_ENOMEM.
 */
int schema__pattern_check(const char *pattern, size_t len, struct fmd_err *err);

/* ---- URIs (uri.c) ---- */

/*
 * Resolves the reference ref[0..n) against the absolute URI base (RFC 3986
 * section 5.2) into *out (caller frees). 0; FMD_EUNPROC when base is not
 * absolute; FMD_ENOMEM.
 */
int schema__uri_resolve(const char *base, const char *ref, size_t n, char **out);

/* 1 if s is an absolute URI (a scheme, then ':'), else 0. */
int schema__uri_is_absolute(const char *s);

/* ---- the subschemas of a schema object (registry.c) ---- */

/*
 * Calls fn for each subschema that the keywords of 2020-12 hold directly in
 * object node: kw is the keyword; key[0..keylen) the member name within it
 * (an object of schemas) or NULL; idx the index within it (an array of
 * schemas) or -1; sub the subschema. Stops at and returns the first nonzero
 * fn result. Does not look into unknown keywords.
 */
typedef int schema__sub_fn(void *arg, const char *kw, const char *key, size_t keylen,
                           long idx, const json_t *sub);
int schema__for_each_sub(const json_t *node, schema__sub_fn *fn, void *arg);

/* The document registered as uri (or embedding a resource with that $id),
 * and the URI it was registered under; NULL if none. */
const json_t *schema__registry_find(const struct schema_registry *reg, const char *uri,
                                    const char **doc_uri);

/* The built-in meta-schemas of 2020-12 (metaschema.c), by URI, or NULL. */
const json_t *schema__builtin_find(const char *uri);

/* ---- the compiled program: validate.c builds it, eval.c runs it ---- */

enum sop_kind {   /* in evaluation order: cheap checks first, unevaluated* last */
    OP_TYPE, OP_CONST, OP_ENUM, OP_MINIMUM, OP_MAXIMUM, OP_XMINIMUM, OP_XMAXIMUM,
    OP_MULTIPLE_OF, OP_MIN_LENGTH, OP_MAX_LENGTH, OP_PATTERN, OP_FORMAT,
    OP_MIN_ITEMS, OP_MAX_ITEMS, OP_UNIQUE, OP_MIN_PROPS, OP_MAX_PROPS,
    OP_PROPS, OP_REQUIRED, OP_DEP_REQUIRED, OP_DEP_SCHEMAS, OP_PROP_NAMES,
    OP_ITEMS, OP_CONTAINS, OP_REF, OP_DYNREF, OP_ALL_OF, OP_ANY_OF, OP_ONE_OF,
    OP_NOT, OP_IF, OP_UNEVAL_ITEMS, OP_UNEVAL_PROPS,
};

struct snode;
struct sres;

/* A "properties" member, in an open-addressing table keyed by name. */
struct sprop {
    const char *name;    /* NULL: free slot */
    size_t len;
    uint64_t hash;
    struct snode *sub;
    int required;        /* the name is also in this schema's "required" */
    uint64_t req_bit;    /* and its bit in the mask OP_REQUIRED checks, or 0 */
    size_t order;        /* its position in the schema */
};

/* A "patternProperties" member. */
struct spat {
    const char *src;
    size_t len;
    pcre2_code *re;
    struct snode *sub;
};

/* properties, patternProperties and additionalProperties of one schema. */
struct sprops {
    struct sprop *tab;   /* cap slots, cap a power of two, or NULL */
    size_t cap, n;
    struct sprop **order;   /* the n members in the schema's order */
    struct spat *pats;
    size_t npats;
    struct snode *additional;   /* NULL: none */
};

/* A string of the schema, for comparing without library calls. */
struct sstr {
    const char *s;
    size_t len;
};

/* A decimal d * 10^e, for exact multipleOf. */
struct sdec {
    uint64_t d;
    int e;
};

typedef int schema__format_fn(const char *s, size_t n);

/* A member a branch of anyOf / oneOf requires to be a constant: an instance
 * whose member differs fails that branch without evaluating it. */
struct sdisc {
    const char *name;    /* NULL: the branch has none */
    size_t len;
    const json_t *val;
};

struct sop {
    enum sop_kind kind;
    unsigned types;          /* OP_TYPE: 1 << JSON type, and TYPE_INTEGER */
    size_t n;                /* counts and bounds; list lengths */
    size_t n2;               /* OP_CONTAINS: maxContains (SIZE_MAX: none);
                                OP_REQUIRED: how many names are also properties */
    int flag;                /* OP_CONTAINS: minContains given; OP_REQUIRED: all covered */
    const json_t *val;       /* const, enum, number bound, required, dependent*, format name */
    const char *name;        /* OP_DYNREF: the dynamic anchor, NULL: a plain $ref */
    struct sdec dec;         /* OP_MULTIPLE_OF */
    struct snode *sub;       /* not, $ref, propertyNames, contains, items, if, unevaluated* */
    struct snode *then_, *else_;
    struct snode **subs;     /* allOf, anyOf, oneOf, prefixItems, dependentSchemas */
    struct sprops *props;
    pcre2_code *re;
    schema__format_fn *format;
    uint64_t *hashes;        /* OP_ENUM: hash of each member (long enums) */
    struct sdisc *disc;      /* OP_ANY_OF, OP_ONE_OF: one per branch, or NULL */
    struct sstr *strs;       /* OP_ENUM: the members, when every one is a string */
    uint64_t *req_bits;      /* OP_REQUIRED: each name's sprop req_bit, when all have one */
    /* The error this op reports, prepared at compile time (schema__op_prepare):
     * schema path, keyword and message; NULL msg: made when it happens. The
     * second set: OP_CONTAINS above maxContains, OP_ONE_OF with two matches. */
    const char *spath, *kw, *msg;
    const char *spath2, *kw2, *msg2;
};

#define TYPE_INTEGER (1u << 15)

/*
 * Most nodes of a form's schema are leaves checking one scalar: a type and a
 * few string or number keywords. Such a node is evaluated by one function
 * that looks at the instance once, rather than op by op through the general
 * dispatch (schema__fast_prepare decides; NULL: the node has no such op).
 * The checks run in op order, so the errors come out as they would.
 */
enum sfast_kind { FAST_NONE, FAST_STRING, FAST_NUMBER };

struct sfast {
    enum sfast_kind kind;
    const struct sop *type, *enm;                            /* either kind */
    const struct sop *min_len, *max_len, *pattern, *format;   /* FAST_STRING */
    const struct sop *min, *max, *xmin, *xmax, *mult;         /* FAST_NUMBER */
};

struct snode {
    int boolean;             /* -1: an object schema; 0 false; 1 true */
    char *path;              /* JSON Pointer in its document, for schema_path */
    const struct sres *res;  /* the resource it is in: entering one extends the dynamic scope */
    int tracks;              /* has unevaluatedItems / unevaluatedProperties */
    int leaf;                /* applies no subschema: evaluated without the bookkeeping */
    struct sop *ops;
    size_t nops;
    struct sfast fast;
};

/* A dynamic anchor of a resource. */
struct sdyn {
    char *name;
    const json_t *j;
    struct snode *node;
};

/* A schema resource: a document root or a subschema with "$id". */
struct sres {
    char *uri;
    const json_t *root;
    char *path;              /* of root in its document */
    struct sdyn *dyn;
    size_t ndyn;
};

/* The hash of property names in struct sprop. */
uint64_t schema__name_hash(const char *s, size_t n);

/* The exact decimal value of JSON number v (as the shortest decimal that
 * reads back as v for a real). 0, or -1 if v is not a finite number. */
int schema__dec_of(const json_t *v, struct sdec *out);

/* 1 if a is an integer multiple of b (b > 0), computed exactly. */
int schema__dec_multiple(const struct sdec *a, const struct sdec *b);

/* 1 if s[0..n) is a host name (idn: an internationalized one), else 0 (idna.c). */
int schema__hostname_check(const char *s, size_t n, int idn);

/* The check for a "format" formd asserts, or NULL for one it does not. */
schema__format_fn *schema__format_find(const char *name);

/* Validation (eval.c) of a compiled program; errors as in schema_check. */
int schema__eval(const struct snode *root, pcre2_match_context *mctx,
                 pcre2_general_context *gctx, const json_t *instance,
                 struct schema_errors *errors);

/*
 * Prepares the error texts of op, an op of node n (eval.c, which writes the
 * messages): one new string, owned by the caller from then on, into *texts
 * (NULL when op has none), that op's text pointers point into.
 * 0 or FMD_ENOMEM.
 */
int schema__op_prepare(const struct snode *n, struct sop *op, char **texts);

/* Sets n->fast when n's ops allow it (see struct sfast); n->ops final. */
void schema__fast_prepare(struct snode *n);

/* Appends "/" and key escaped per RFC 6901 (~ as ~0, / as ~1): 0 or FMD_ENOMEM. */
int schema__push_key(struct buf *b, const char *key, size_t n);

/*
 * The JSON Pointers of doc's "x-sensitive" properties (sensitive.c) as a
 * new array into *out, or NULL when there are none. FMD_EUNPROC for an
 * "x-sensitive" that is not a boolean or is where formd cannot locate it.
 */
int schema__sensitive_paths(const json_t *doc, json_t **out, struct fmd_err *err);

#endif
