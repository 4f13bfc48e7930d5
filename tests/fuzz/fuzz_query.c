/*
 * fuzz_query.c - libFuzzer target for formd's own reading of query arguments
 * and request headers, the handlers' code itself (not copies):
 *   ?limit= and ?cursor= (api_limit, api_cursor in src/api/common.c),
 *   the submission list's filters (filter_params, src/api/submissions.c:
 *   created_after, created_before, status, include_deleted),
 *   the analytics filters (filter_args, src/api/analytics.c: from, to as a
 *   date or an RFC 3339 date-time, version, status, include_deleted),
 *   Idempotency-Key (valid_idempotency_key, src/api/public.c),
 *   Authorization: Bearer, as api_auth reads it before any database look-up
 *   (token_key_prefix, token_is_session in src/security/token.c),
 *   and RFC 3339 itself (clock_parse_rfc3339 against clock_rfc3339).
 *
 * The input is lines: "Name: value" is a header, "name=value" a query
 * argument (already percent-decoded, as libmicrohttpd hands them over). The
 * handlers ask libmicrohttpd through MHD_lookup_connection_value; this target
 * defines that function over the input's lines, and the executable's
 * definition takes precedence over libmicrohttpd's.
 *
 * Checks: each parser either accepts a value within its documented range or
 * answers a 400 problem JSON, never both, never neither; an accepted time
 * prints and reads back to the same millisecond.
 * Seeds: corpus/fuzz_query/; dictionary: fuzz_query.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "../../src/api/submissions.c"
#include "../../src/api/analytics.c"
#include "../../src/api/public.c"
#include "security/token.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VALUES 64

struct fake_conn {
    const char *names[MAX_VALUES], *values[MAX_VALUES];
    int header[MAX_VALUES];
    size_t n;
};

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
                                        enum MHD_ValueKind kind, const char *key)
{
    struct fake_conn *c = (struct fake_conn *)connection;
    size_t i;

    for (i = 0; c && i < c->n; i++) {
        if (kind == MHD_HEADER_KIND && c->header[i] && !strcasecmp(c->names[i], key))
            return c->values[i];
        if (kind == MHD_GET_ARGUMENT_KIND && !c->header[i] && !strcmp(c->names[i], key))
            return c->values[i];
    }
    return NULL;
}

static void req_reset(struct http_req *req)
{
    buf_reset(&req->out);
    req->status = 0;
}

/* rc 0 and no answer, or rc -1 and a 400 problem JSON naming the argument. */
static void check_answer(struct http_req *req, int rc)
{
    json_t *v;

    if (rc == 0) {
        if (req->status)
            abort();
        return;
    }
    if (rc != -1 || req->status != 400)
        abort();
    v = json_loadb(req->out.p, req->out.len, 0, NULL);
    if (!v || !json_is_string(json_object_get(v, "detail")))
        abort();
    json_decref(v);
    req_reset(req);
}

/* An accepted time reads back from its own printing (within the years printed). */
static void check_time(int64_t ms)
{
    char out[CLOCK_RFC3339_LEN];
    int64_t again;

    if (ms < -62167219200000LL || ms > 253402300799999LL)   /* 0000-01-01 .. 9999-12-31 */
        return;
    clock_rfc3339(ms, out);
    if (clock_parse_rfc3339(out, &again) || again != ms)
        abort();
}

static int ref_idempotency_key(const char *k)
{
    size_t i, n = strlen(k);
    for (i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return n >= 1 && n <= 255;
}

static void check_bearer(const char *h)
{
    char prefix[TOKEN_PREFIX_LEN + 1];
    size_t i;

    /* api_auth's gate, before it looks anything up */
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7])
        return;
    h += 7;
    while (*h == ' ')
        h++;
    if (!strncmp(h, "fms_", 4)) {
        if (token_is_session(h) && (strlen(h) != TOKEN_SESSION_LEN))
            abort();
        return;
    }
    switch (token_key_check(h, prefix)) {
    case TOKEN_KEY_OK: {
        /* the checksum is CRC-32 of "<prefix>_<secret>" in base 62 */
        char check[TOKEN_CHECK_LEN + 1];
        if (strlen(h) != TOKEN_KEY_LEN)
            abort();
        token_base62(token_crc32(h + 4, TOKEN_KEY_LEGACY_LEN - 4), check);
        if (memcmp(check, h + TOKEN_KEY_LEGACY_LEN, TOKEN_CHECK_LEN))
            abort();
        break;
    }
    case TOKEN_KEY_LEGACY:
        if (strlen(h) != TOKEN_KEY_LEGACY_LEN)
            abort();
        break;
    default:
        if (token_key_prefix(h, prefix))   /* refused keys are never looked up */
            abort();
        return;
    }
    if (memcmp(prefix, h + 4, TOKEN_PREFIX_LEN))
        abort();
    for (i = 0; i < TOKEN_PREFIX_LEN; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", prefix[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg = {.query_timeout = 1000};
    static struct app app = {.cfg = &cfg};
    struct fake_conn conn = {0};
    struct http_req req;
    struct store_submission_filter sf;
    struct summary_filter af;
    char *text = malloc(size + 1), *line, *next;
    const char *cursor, *v;
    int64_t ms;
    int limit, rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (line = text; line && conn.n < MAX_VALUES; line = next) {
        char *sep;
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        if ((sep = strstr(line, ": ")) && (!strchr(line, '=') || sep < strchr(line, '='))) {
            *sep = '\0';
            conn.values[conn.n] = sep + 2;
            conn.header[conn.n] = 1;
        } else if ((sep = strchr(line, '='))) {
            *sep = '\0';
            conn.values[conn.n] = sep + 1;
        } else {
            continue;
        }
        conn.names[conn.n++] = line;
    }

    memset(&req, 0, sizeof(req));
    arena_init(&req.arena);
    buf_init(&req.out, 1 << 16);
    req.conn = &conn;
    req.app = &app;
    req.path = "/";
    req.file_fd = -1;

    rc = api_limit(&req, &limit);
    if (!rc && (limit < 1 || limit > 200))
        abort();
    check_answer(&req, rc);
    rc = api_cursor(&req, &cursor);
    if (!rc && cursor && !id_valid(cursor))
        abort();
    check_answer(&req, rc);

    rc = filter_params(&req, &sf);
    if (!rc && ((sf.has_after && !http_query(&req, "created_after")) ||
                (sf.status && !review_state(sf.status))))
        abort();
    check_answer(&req, rc);
    if (!rc && sf.has_after)
        check_time(sf.created_after);
    if (!rc && sf.has_before)
        check_time(sf.created_before);

    rc = filter_args(&req, &af);
    if (!rc && (af.version < 0 || af.version > 1000000 || af.timeout_ms != cfg.query_timeout))
        abort();
    check_answer(&req, rc);

    if ((v = http_header(&req, "Idempotency-Key")) &&
        valid_idempotency_key(v) != ref_idempotency_key(v))
        abort();
    check_bearer(http_header(&req, "Authorization"));
    if ((v = http_query(&req, "t")) && !clock_parse_rfc3339(v, &ms))
        check_time(ms);

    arena_release(&req.arena);
    buf_release(&req.out);
    free(text);
    return 0;
}
