/* config.c - options table shared by flags, environment and config file. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/banned.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

struct option_row {
    const char *name;
    enum opt_type type;
    size_t offset;
    long min, max;
    const char *def;
    int secret;          /* also read from FORMD_NAME_FILE: SECRET_LINE or SECRET_FILE */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)
#define SECRET_LINE 1    /* the file's first line */
#define SECRET_FILE 2    /* the whole file (a key file of several lines) */

static const struct option_row options[] = {
    {"listen", OPT_STR, OFF(listen), 0, 0, "127.0.0.1:8080", 0, "address and port to serve on"},
    {"data-dir", OPT_STR, OFF(data_dir), 0, 0, "./data", 0, "directory for the database and keys"},
    {"log-level", OPT_STR, OFF(log_level), 0, 0, "info", 0, "debug, info, warn, error or off"},
    {"threads", OPT_INT, OFF(threads), 1, 256, "4", 0, "HTTP worker threads"},
    {"max-body", OPT_INT, OFF(max_body), 1024, 1L << 30, "1048576", 0, "largest request body in bytes"},
    {"max-header", OPT_INT, OFF(max_header), 1024, 1L << 20, "16384", 0, "largest request header block in bytes"},
    {"max-uri", OPT_INT, OFF(max_uri), 256, 1L << 20, "8192", 0, "longest request URI in bytes"},
    {"max-json-depth", OPT_INT, OFF(max_json_depth), 2, 1000, "32", 0, "deepest JSON nesting accepted"},
    {"max-json-members", OPT_INT, OFF(max_json_members), 16, 10000000, "10000", 0, "most JSON members in one body"},
    {"request-timeout", OPT_INT, OFF(request_timeout), 1, 3600, "30", 0, "seconds a client has to send a whole request"},
    {"session-ttl", OPT_INT, OFF(session_ttl), 60, 31536000, "86400", 0, "seconds a login session lasts"},
    {"commit-batch", OPT_INT, OFF(commit_batch), 1, 100000, "1024", 0, "most writes in one group commit"},
    {"workers", OPT_INT, OFF(workers), 0, 256, "2", 0, "task worker threads (0: none)"},
    {"task-lease", OPT_INT, OFF(task_lease), 2, 3600, "15", 0, "seconds a running task's lease lasts between heartbeats"},
    {"queue-poll-only", OPT_BOOL, OFF(queue_poll_only), 0, 1, "0", 0, "PostgreSQL: find new tasks by polling only, without LISTEN (behind a pooler in transaction mode)"},
    {"task-retention", OPT_INT, OFF(task_retention), 60, 31536000, "86400", 0, "seconds finished tasks are kept"},
    {"allow-private-targets", OPT_BOOL, OFF(allow_private_targets), 0, 1, "0", 0, "let webhooks and AI servers be loopback or private addresses"},
    {"metrics-public", OPT_BOOL, OFF(metrics_public), 0, 1, "1", 0, "serve /metrics without authentication"},
    {"db-url", OPT_STR, OFF(db_url), 0, 0, "", 1, "database URL (empty: SQLite in the data directory)"},
    /*
     * The names the operations docs use (--database, FORMD_DATABASE_URL and
     * FORMD_DATABASE_URL_FILE) for the same field: where two are set, the
     * later source wins, as for any option.
     */
    {"database", OPT_STR, OFF(db_url), 0, 0, "", 1, "postgres://USER[:PASS]@HOST[:PORT]/DB, or empty for SQLite in the data directory (same as db-url)"},
    {"database-url", OPT_STR, OFF(db_url), 0, 0, "", 1, "same as database"},
    {"analytics-memory", OPT_STR, OFF(analytics_memory), 0, 0, "1GB", 0, "memory limit of the analytics engine (DuckDB size, e.g. 512MB)"},
    {"analytics-threads", OPT_INT, OFF(analytics_threads), 1, 256, "2", 0, "threads of the analytics engine"},
    {"query-timeout", OPT_INT, OFF(query_timeout), 1, 3600000, "10000", 0, "milliseconds an analytics query may run"},
    {"query-max-rows", OPT_INT, OFF(query_max_rows), 1, 1000000, "10000", 0, "most rows an analytics query returns"},
    {"export-ttl", OPT_INT, OFF(export_ttl), 1, 31536000, "86400", 0, "seconds a finished export can be downloaded"},
    {"ai-model", OPT_STR, OFF(ai_model), 0, 0, "", 0, "GGUF model file for in-process AI (empty: none)"},
    {"ai-openai", OPT_STR, OFF(ai_openai), 0, 0, "", 0, "OpenAI-compatible AI server: URL[|MODEL][|API_KEY_FILE] (empty: none)"},
    {"ai-threads", OPT_INT, OFF(ai_threads), 0, 256, "0", 0, "threads of the in-process model (0: half the CPUs)"},
    {"ai-timeout", OPT_INT, OFF(ai_timeout), 100, 3600000, "60000", 0, "milliseconds one AI completion may take before the fallback answers"},
    {"ai-cache-ttl", OPT_INT, OFF(ai_cache_ttl), 60, 315360000, "2592000", 0, "seconds a cached AI answer is kept"},
    {"etl-max-lag", OPT_INT, OFF(etl_max_lag), 0, 31536000, "900", 0, "seconds analytics may lag before /readyz fails (0: never)"},
    {"backup-dir", OPT_STR, OFF(backup_dir), 0, 0, "", 0, "directory for periodic backups (empty: DATA_DIR/backups)"},
    {"backup-every", OPT_STR, OFF(backup_every), 0, 0, "@daily", 0, "cron schedule (UTC) of periodic backups, e.g. '0 3 * * *' ('off': none)"},
    {"backup-keep", OPT_INT, OFF(backup_keep), 1, 100000, "7", 0, "newest periodic backups kept"},
    {"cors-origins", OPT_STR, OFF(cors_origins), 0, 0, "", 0, "comma-separated exact origins (https://forms.example.org) that may call /v1/public/ from a browser (empty: no CORS)"},
    {"hsts-max-age", OPT_INT, OFF(hsts_max_age), 0, 63072000, "0", 0, "seconds of Strict-Transport-Security to send, when clients reach formd over HTTPS only (0: none)"},
    /* Rate limits: COUNT requests per SECONDS, BURST at once (default COUNT); 0 or off: none. */
    {"rate-public", OPT_STR, OFF(rate_public), 0, 0, "1000/1,2000", 0, "rate limit per client address of public form reads and submissions: COUNT/SECONDS[,BURST], 0 for none"},
    {"rate-login", OPT_STR, OFF(rate_login), 0, 0, "10/1,20", 0, "rate limit per client address of logins: COUNT/SECONDS[,BURST], 0 for none"},
    {"rate-management", OPT_STR, OFF(rate_management), 0, 0, "1000/1,2000", 0, "rate limit per API key or session of the other authenticated routes: COUNT/SECONDS[,BURST], 0 for none"},
    {"rate-ai", OPT_STR, OFF(rate_ai), 0, 0, "60/1,120", 0, "rate limit per API key or session of the AI routes: COUNT/SECONDS[,BURST], 0 for none"},
    {"trusted-proxies", OPT_STR, OFF(trusted_proxies), 0, 0, "", 0, "comma-separated proxy addresses whose X-Forwarded-For names the client (empty: the socket peer is the client)"},
    {"encryption-key", OPT_STR, OFF(encryption_key), 0, 0, "", SECRET_FILE, "keys of sensitive form fields, KEYID:BASE64(32 bytes) a line, the last one current (give the file: FORMD_ENCRYPTION_KEY_FILE)"},
    {"analytics-node", OPT_STR, OFF(analytics_node), 0, 0, "auto", 0, "PostgreSQL: auto (stand for election as the analytics node), always (take it over) or never"},
    {"advertise-url", OPT_STR, OFF(advertise_url), 0, 0, "", 0, "URL other nodes forward analytics requests to (empty: http://LISTEN)"},
    {"analytics-lease", OPT_INT, OFF(analytics_lease), 3, 3600, "15", 0, "seconds the analytics node's lease lasts without renewal"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const struct option_row *find(const char *name, size_t n)
{
    size_t i;
    for (i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].name) == n && !strncmp(options[i].name, name, n))
            return &options[i];
    return NULL;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int apply(struct config *c, const struct option_row *o, const char *value,
                 const char *origin, struct fmd_err *err)
{
    char *field = (char *)c + o->offset;
    long v;

    switch (o->type) {
    case OPT_STR: {
        char *d = fmd_strdup(value);
        if (!d)
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        fmd_free(*(char **)field);
        *(char **)field = d;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
            v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no"))
            v = 0;
        else
            return fmd_errf(err, FMD_EINVAL, "option '%s' from %s: '%s' is not a boolean",
                            o->name, origin, value);
        *(long *)field = v;
        return 0;
    case OPT_INT:
        if (parse_long(value, &v) || v < o->min || v > o->max)
            return fmd_errf(err, FMD_EINVAL,
                            "option '%s' from %s: '%s' is not an integer in [%ld, %ld]",
                            o->name, origin, value, o->min, o->max);
        *(long *)field = v;
        return 0;
    }
    return FMD_EINVAL;
}

void config_init(struct config *c)
{
    size_t i;
    memset(c, 0, sizeof(*c));
    for (i = 0; i < NOPTIONS; i++)
        if (apply(c, &options[i], options[i].def, "default", NULL))
            FMD_BUG("bad default for '%s'", options[i].name);
}

void config_release(struct config *c)
{
    size_t i;
    for (i = 0; i < NOPTIONS; i++)
        if (options[i].type == OPT_STR)
            fmd_freez((char **)((char *)c + options[i].offset));
}

int config_set(struct config *c, const char *name, const char *value,
               const char *origin, struct fmd_err *err)
{
    const struct option_row *o = find(name, strlen(name));
    if (!o)
        return fmd_errf(err, FMD_EINVAL, "unknown option '%s' from %s", name, origin);
    return apply(c, o, value, origin, err);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *c, const char *path, struct fmd_err *err)
{
    char line[4096], origin[600];
    FILE *f = fopen(path, "r");
    int lineno = 0, rc = 0;

    if (!f)
        return fmd_errf(err, FMD_EINVAL, "cannot open config file '%s': %s", path,
                        strerror(errno));
    while (!rc && fgets(line, sizeof(line), f)) {
        char *eq, *s = trim(line);
        lineno++;
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
        if (!eq) {
            rc = fmd_errf(err, FMD_EINVAL, "%s: expected 'name = value'", origin);
            break;
        }
        *eq = '\0';
        rc = config_set(c, trim(s), trim(eq + 1), origin, err);
    }
    fclose(f);
    return rc;
}

/* FORMD_DATA_DIR for "data-dir". */
static void env_name(const char *opt, const char *suffix, char *out, size_t cap)
{
    size_t i, n = (size_t)snprintf(out, cap, "FORMD_%s%s", opt, suffix);
    for (i = 6; i < n && i < cap; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

/*
 * Refuses a secret file others could read, or one that someone else could
 * have written (not owned by this user or root), as ssh does for its keys.
 */
static int check_secret_file(const char *var, const char *path, struct fmd_err *err)
{
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    size_t n = creds ? strlen(creds) : 0;
    struct stat st;

    if (n && !strncmp(path, creds, n) && path[n] == '/')
        return 0;
    if (stat(path, &st))
        return fmd_errf(err, FMD_EINVAL, "%s: cannot read '%s': %s", var, path,
                        strerror(errno));
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return fmd_errf(err, FMD_EINVAL, "%s: '%s' belongs to uid %ld, not to this user "
                        "(uid %ld): chown it to this user and chmod 600 '%s'", var, path,
                        (long)st.st_uid, (long)geteuid(), path);
    if (st.st_mode & 077)
        return fmd_errf(err, FMD_EINVAL, "%s: '%s' can be read by other users (mode %04o): "
                        "chmod 600 '%s'", var, path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

int config_has_password(const char *value)
{
    const char *scheme = strstr(value, "://"), *at, *end;

    if (strstr(value, "password="))
        return 1;
    if (!scheme)
        return 0;
    scheme += 3;
    end = scheme + strcspn(scheme, "/?#");
    at = memchr(scheme, '@', (size_t)(end - scheme));
    /* user:PASSWORD@host; a bare user@host or an empty password is no secret. */
    return at && memchr(scheme, ':', (size_t)(at - scheme)) &&
           ((const char *)memchr(scheme, ':', (size_t)(at - scheme)))[1] != '@';
}

/* The first line of the file, or with whole the whole file (at most cap - 1 bytes). */
static int read_secret_file(const char *path, int whole, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = 0;

    if (!f)
        return -1;
    if (whole) {
        n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
        if (n == cap - 1 && fgetc(f) != EOF)
            rc = -1;                 /* too long: refuse rather than cut a key off */
    } else if (!fgets(out, (int)cap, f)) {
        out[0] = '\0';
    }
    fclose(f);
    if (!whole)
        out[strcspn(out, "\r\n")] = '\0';
    return rc;
}

static int load_env(struct config *c, struct fmd_err *err)
{
    char name[96], secret[16384];
    size_t i;
    int rc;

    for (i = 0; i < NOPTIONS; i++) {
        const char *v;
        env_name(options[i].name, "", name, sizeof(name));
        if ((v = getenv(name)) && (rc = apply(c, &options[i], v, name, err)))
            return rc;
        if (!options[i].secret)
            continue;
        env_name(options[i].name, "_FILE", name, sizeof(name));
        if (!(v = getenv(name)))
            continue;
        if ((rc = check_secret_file(name, v, err)))
            return rc;
        if (read_secret_file(v, options[i].secret == SECRET_FILE, secret, sizeof(secret)))
            return fmd_errf(err, FMD_EINVAL, "%s: cannot read '%s' (or larger than %zu bytes)",
                            name, v, sizeof(secret) - 1);
        rc = apply(c, &options[i], secret, name, err);
        memset(secret, 0, sizeof(secret));
        if (rc)
            return rc;
    }
    return 0;
}

static struct config_extra *find_extra(struct config_extra *extras, const char *name, size_t n)
{
    for (; extras && extras->name; extras++)
        if (strlen(extras->name) == n && !strncmp(extras->name, name, n))
            return extras;
    return NULL;
}

int config_load(struct config *c, int argc, char **argv, int first,
                struct config_extra *extras, struct fmd_err *err)
{
    const char *file = getenv("FORMD_CONFIG");
    char name[96];
    int i, rc;

    for (i = first; i < argc; i++)
        if (!strncmp(argv[i], "--config", 8)) {
            if (argv[i][8] == '=')
                file = argv[i] + 9;
            else if (!argv[i][8] && i + 1 < argc)
                file = argv[i + 1];
        }
    if (file && *file && (rc = load_file(c, file, err)))
        return rc;
    if ((rc = load_env(c, err)))
        return rc;
    for (i = first; i < argc; i++) {
        const char *arg = argv[i], *eq, *val;
        const struct option_row *o;
        struct config_extra *x;
        size_t nlen;
        if (strncmp(arg, "--", 2))
            return fmd_errf(err, FMD_EINVAL, "unexpected argument '%s'", arg);
        arg += 2;
        eq = strchr(arg, '=');
        nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen == 6 && !strncmp(arg, "config", 6)) {
            i += eq ? 0 : 1;
            continue;
        }
        if ((x = find_extra(extras, arg, nlen))) {
            if (eq)
                x->value = eq + 1;
            else if (x->flag)
                x->value = "1";
            else if (i + 1 < argc)
                x->value = argv[++i];
            else
                return fmd_errf(err, FMD_EINVAL, "option '--%s' needs a value", x->name);
            continue;
        }
        o = find(arg, nlen);
        if (!o)
            return fmd_errf(err, FMD_EINVAL, "unknown option '--%.*s'", (int)nlen, arg);
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
            val = "1";
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return fmd_errf(err, FMD_EINVAL, "option '--%s' needs a value", o->name);
        /* A key file's text is secret whatever it holds; a URL only with a password. */
        if (o->secret == SECRET_FILE || (o->secret && config_has_password(val))) {
            env_name(o->name, "", name, sizeof(name));
            return fmd_errf(err, FMD_EINVAL, "option '--%s' holds a secret, and the command "
                            "line is visible to every local user: put the value in a file "
                            "(mode 0600) named by %s_FILE, or in %s", o->name, name, name);
        }
        if ((rc = apply(c, o, val, "command line", err)))
            return rc;
    }
    return 0;
}

void config_usage(void)
{
    size_t i;
    char env[96];
    for (i = 0; i < NOPTIONS; i++) {
        env_name(options[i].name, "", env, sizeof(env));
        fprintf(stderr, "  --%-18s %s (default '%s'; env %s%s)\n", options[i].name,
                options[i].help, options[i].def, env, options[i].secret ? ", or _FILE" : "");
    }
}
