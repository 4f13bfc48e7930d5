/*
 * ai.h - the AI task handlers.
 *
 * "ai.extract" (payload {"form_id", "text"}): free text (an email, a
 * transcript, a scanned form's text) to a submission draft for the form's
 * published version. The model writes under a grammar compiled from the
 * form's JSON Schema when the schema is inside the grammar subset, and its
 * output must parse and validate either way; otherwise, or without a model,
 * the rules fallback extracts what it can. The result:
 *   {"data": {...}, "source": "model"|"fallback", "model", "fallback_reason",
 *    "valid": bool, "errors": [...], "machine_made": true,
 *    "review": "pending", "form_version"}
 * A fallback draft may miss required fields: "valid" and "errors" say so,
 * for the person who reviews it.
 */
#ifndef FMD_TASKS_AI_H
#define FMD_TASKS_AI_H

#include <jansson.h>

#include "core/buf.h"
#include "db/db.h"
#include "queue/worker.h"

#define AI_EXTRACT_KIND "ai.extract"
#define AI_OCR_KIND "ai.ocr"          /* an image: OCR, then as ai.extract (same handler) */
#define AI_CLASSIFY_KIND "ai.classify"
#define AI_GENERATE_FORM_KIND "ai.generate_form"
#define AI_SUMMARIZE_KIND "ai.summarize"

int tasks_ai_extract(struct queue_run *run);

/*
 * "ai.classify" (payload {"submission_id"}): the submission's answers to one
 * of the categories in its form's settings.ai.classify (published version),
 * with a short reason: {"submission_id", "category", "reason", "source",
 * "model", "fallback_reason", "prompt_version", "cached"}. The model answers
 * under a grammar allowing only the category names.
 */
int tasks_ai_classify(struct queue_run *run);

/*
 * "ai.generate_form" (payload {"description"}): a form definition in the
 * fields shorthand from a description in words, as a draft: {"fields",
 * "schema" (what they compile to), "source", "model", "fallback_reason",
 * "prompt_version", "cached"}. The model writes under a grammar of the
 * fields shorthand, and its answer must compile (names unique, options
 * where a choice needs them), else the rules fallback answers.
 */
int tasks_ai_generate_form(struct queue_run *run);

/*
 * "ai.summarize" (payload {"form_id", "field"?, "from"?, "to"?}, times in
 * ms): the text answers of the form's live submissions (the newest 5,000),
 * in chunks that fit the model's context, each summarised, then the partial
 * summaries combined: {"form_id", "field", "answers", "chunks", "summary",
 * "source": "model"|"fallback"|"mixed", "model", "prompt_version"}.
 */
int tasks_ai_summarize(struct queue_run *run);

/*
 * Inside the transaction that stores a new submission of a version whose
 * settings say "ai.classify.auto": true (SCHEMA_FLAG_AUTO_CLASSIFY): enqueues
 * its ai.classify task, so no such submission is stored without its
 * classification to come. 0 or the database's error.
 */
int tasks_ai_classify_new(struct db *db, const char *project_id, const char *submission_id,
                          struct fmd_err *err);

/*
 * What the tasks give a model, public so that tests run these very prompts
 * and answer schemas through a model (tests/unit/ai/test_model_outputs.c).
 */
#define TASKS_AI_EXTRACT_PROMPT  "Text:\n%s\nJSON:"           /* the text */
#define TASKS_AI_CLASSIFY_PROMPT "Answers:\n%s\nJSON:"        /* the submission's data */
#define TASKS_AI_GENERATE_PROMPT "Description:\n%s\nFields:"  /* the description */
/* extract's instructions and the form's schema, the same for every text */
int tasks_ai_extract_prefix(struct buf *b, const char *schema_text);
/* classify's answer: one of the category names and a short reason */
json_t *tasks_ai_classify_schema(const json_t *categories);
/* classify's instructions: the categories as the form's settings describe them */
int tasks_ai_classify_prefix(struct buf *b, const json_t *categories);
/* generate_form's instructions, and its answer: a fields list the compiler takes */
extern const char tasks_ai_generate_prefix[];
extern const char tasks_ai_fields_answer_schema[];

/* Puts the AI task metrics (formd_ai_cache_total) on /metrics at zero. */
void tasks_ai_metrics_init(void);

#endif
