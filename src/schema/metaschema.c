/*
 * metaschema.c - the meta-schemas of JSON Schema 2020-12, built in, so that a
 * schema may reference them (and declare them in "$schema") without formd
 * ever fetching a URL.
 *
 * The texts are the published documents at https://json-schema.org/draft/2020-12/
 * (schema and the vocabulary meta-schemas under meta/), compacted; they are
 * parsed once, on first use.
 */
#include "schema/schema_int.h"

#include <pthread.h>
#include <string.h>

#include "core/banned.h"

static const char *const texts[] = {
    /* https://json-schema.org/draft/2020-12/schema */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/"
    "vocab/core\":true,\"https://json-schema.org/draft/2020-12/vocab/applicator\":true,\"http"
    "s://json-schema.org/draft/2020-12/vocab/unevaluated\":true,\"https://json-schema.org/dra"
    "ft/2020-12/vocab/validation\":true,\"https://json-schema.org/draft/2020-12/vocab/meta-da"
    "ta\":true,\"https://json-schema.org/draft/2020-12/vocab/format-annotation\":true,\"https"
    "://json-schema.org/draft/2020-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"tit"
    "le\":\"Core and Validation specifications meta-schema\",\"allOf\":[{\"$ref\":\"meta/core"
    "\"},{\"$ref\":\"meta/applicator\"},{\"$ref\":\"meta/unevaluated\"},{\"$ref\":\"meta/vali"
    "dation\"},{\"$ref\":\"meta/meta-data\"},{\"$ref\":\"meta/format-annotation\"},{\"$ref\":"
    "\"meta/content\"}],\"type\":[\"object\",\"boolean\"],\"$comment\":\"This meta-schema als"
    "o defines keywords that have appeared in previous drafts in order to prevent incompatibl"
    "e extensions as they remain in common use.\",\"properties\":{\"definitions\":{\"$comment"
    "\":\"\\\"definitions\\\" has been replaced by \\\"$defs\\\".\",\"type\":\"object\",\"add"
    "itionalProperties\":{\"$dynamicRef\":\"#meta\"},\"deprecated\":true,\"default\":{}},\"de"
    "pendencies\":{\"$comment\":\"\\\"dependencies\\\" has been split and replaced by \\\"dep"
    "endentSchemas\\\" and \\\"dependentRequired\\\" in order to serve their differing semant"
    "ics.\",\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$dynamicRef\":\"#meta"
    "\"},{\"$ref\":\"meta/validation#/$defs/stringArray\"}]},\"deprecated\":true,\"default\":"
    "{}},\"$recursiveAnchor\":{\"$comment\":\"\\\"$recursiveAnchor\\\" has been replaced by "
    "\\\"$dynamicAnchor\\\".\",\"$ref\":\"meta/core#/$defs/anchorString\",\"deprecated\":true}"
    ",\"$recursiveRef\":{\"$comment\":\"\\\"$recursiveRef\\\" has been replaced by \\\"$dynam"
    "icRef\\\".\",\"$ref\":\"meta/core#/$defs/uriReferenceString\",\"deprecated\":true}}}",
    /* https://json-schema.org/draft/2020-12/meta/core */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-"
    "12/vocab/core\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core vocabulary meta-schem"
    "a\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"$ref\":\"#/$defs/uriRef"
    "erenceString\",\"$comment\":\"Non-empty fragments not allowed.\",\"pattern\":\"^[^#]*#?$"
    "\"},\"$schema\":{\"$ref\":\"#/$defs/uriString\"},\"$ref\":{\"$ref\":\"#/$defs/uriReferen"
    "ceString\"},\"$anchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$dynamicRef\":{\"$ref\":\""
    "#/$defs/uriReferenceString\"},\"$dynamicAnchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$"
    "vocabulary\":{\"type\":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/uriString\"},\"a"
    "dditionalProperties\":{\"type\":\"boolean\"}},\"$comment\":{\"type\":\"string\"},\"$defs"
    "\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}}},\"$defs\""
    ":{\"anchorString\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},\"ur"
    "iString\":{\"type\":\"string\",\"format\":\"uri\"},\"uriReferenceString\":{\"type\":\"st"
    "ring\",\"format\":\"uri-reference\"}}}",
    /* https://json-schema.org/draft/2020-12/meta/applicator */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft"
    "/2020-12/vocab/applicator\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Applicator voc"
    "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"prefixItems\":"
    "{\"$ref\":\"#/$defs/schemaArray\"},\"items\":{\"$dynamicRef\":\"#meta\"},\"contains\":{"
    "\"$dynamicRef\":\"#meta\"},\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"propert"
    "ies\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"defaul"
    "t\":{}},\"patternProperties\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicR"
    "ef\":\"#meta\"},\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependentSche"
    "mas\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"defaul"
    "t\":{}},\"propertyNames\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\"}"
    ",\"then\":{\"$dynamicRef\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{\""
    "$ref\":\"#/$defs/schemaArray\"},\"anyOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"oneOf\":{"
    "\"$ref\":\"#/$defs/schemaArray\"},\"not\":{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"sche"
    "maArray\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}",
    /* https://json-schema.org/draft/2020-12/meta/unevaluated */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/unevaluated\",\"$vocabulary\":{\"https://json-schema.org/draf"
    "t/2020-12/vocab/unevaluated\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Unevaluated "
    "applicator vocabulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\""
    "unevaluatedItems\":{\"$dynamicRef\":\"#meta\"},\"unevaluatedProperties\":{\"$dynamicRef"
    "\":\"#meta\"}}}",
    /* https://json-schema.org/draft/2020-12/meta/validation */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft"
    "/2020-12/vocab/validation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Validation voc"
    "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"type\":{\"anyO"
    "f\":[{\"$ref\":\"#/$defs/simpleTypes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/$def"
    "s/simpleTypes\"},\"minItems\":1,\"uniqueItems\":true}]},\"const\":true,\"enum\":{\"type"
    "\":\"array\",\"items\":true},\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum\""
    ":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$ref"
    "\":\"#/$defs/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/$defs/nonNegativeIntegerDe"
    "fault0\"},\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},\"maxItems\":{\"$ref\":"
    "\"#/$defs/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefau"
    "lt0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},\"maxContains\":{\"$ref"
    "\":\"#/$defs/nonNegativeInteger\"},\"minContains\":{\"$ref\":\"#/$defs/nonNegativeInteger"
    "\",\"default\":1},\"maxProperties\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minPrope"
    "rties\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/$de"
    "fs/stringArray\"},\"dependentRequired\":{\"type\":\"object\",\"additionalProperties\":{"
    "\"$ref\":\"#/$defs/stringArray\"}}},\"$defs\":{\"nonNegativeInteger\":{\"type\":\"integer"
    "\",\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"$ref\":\"#/$defs/nonNegativeInteger"
    "\",\"default\":0},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\","
    "\"number\",\"object\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"type"
    "\":\"string\"},\"uniqueItems\":true,\"default\":[]}}}",
    /* https://json-schema.org/draft/2020-12/meta/meta-data */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/"
    "2020-12/vocab/meta-data\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Meta-data vocabu"
    "lary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"title\":{\"type\""
    ":\"string\"},\"description\":{\"type\":\"string\"},\"default\":true,\"deprecated\":{\"ty"
    "pe\":\"boolean\",\"default\":false},\"readOnly\":{\"type\":\"boolean\",\"default\":false"
    "},\"writeOnly\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array"
    "\",\"items\":true}}}",
    /* https://json-schema.org/draft/2020-12/meta/format-annotation */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/format-annotation\",\"$vocabulary\":{\"https://json-schema.or"
    "g/draft/2020-12/vocab/format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\""
    "Format vocabulary meta-schema for annotation results\",\"type\":[\"object\",\"boolean\"]"
    ",\"properties\":{\"format\":{\"type\":\"string\"}}}",
    /* https://json-schema.org/draft/2020-12/meta/content */
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
    "ema.org/draft/2020-12/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/20"
    "20-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Content vocabulary m"
    "eta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"contentEncoding\":{\"ty"
    "pe\":\"string\"},\"contentMediaType\":{\"type\":\"string\"},\"contentSchema\":{\"$dynami"
    "cRef\":\"#meta\"}}}",
};

static json_t *docs;   /* $id -> document, or NULL if parsing failed */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    json_t *all = json_object();
    size_t i;

    for (i = 0; all && i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *d = json_loads(texts[i], 0, NULL);
        const char *id = json_string_value(json_object_get(d, "$id"));
        if (!id || json_object_set_new(all, id, d)) {
            json_decref(all);
            all = NULL;
        }
    }
    docs = all;
}

const json_t *schema__builtin_find(const char *uri)
{
    if (strncmp(uri, "https://json-schema.org/draft/2020-12/", 38) != 0)
        return NULL;
    pthread_once(&once, load);
    return docs ? json_object_get(docs, uri) : NULL;
}
