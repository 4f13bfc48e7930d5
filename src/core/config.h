/*
 * config.h - the one options table.
 *
 * Every setting is a row: name, type, bounds, default, help. The same row is
 * read, in rising precedence, from the built-in default, a config file
 * ("name = value" lines, '#' comments; --config or FORMD_CONFIG), the
 * environment (FORMD_NAME, and FORMD_NAME_FILE for secrets: the file's first
 * line), and command-line flags (--name value or --name=value). A value out
 * of bounds is an error naming the option and where it came from.
 *
 * Secrets stay off the command line, which any local user can read in
 * /proc/PID/cmdline: a secret option's flag is refused when its value holds
 * a password (user:PASSWORD@ in a URL, or password=). A *_FILE must be
 * readable by its owner only (mode 0600 or 0400) and owned by this user or
 * root, as ssh asks of its keys; files systemd hands over in
 * $CREDENTIALS_DIRECTORY are systemd's to protect and are not checked.
 */
#ifndef FMD_CORE_CONFIG_H
#define FMD_CORE_CONFIG_H

#include <stddef.h>

#include "core/err.h"

struct config {
    char *listen;            /* HOST:PORT */
    char *data_dir;
    char *log_level;
    long threads;            /* HTTP thread pool size */
    long max_body;           /* bytes */
    long max_header;         /* bytes, all request headers together */
    long max_uri;            /* bytes */
    long max_json_depth;
    long max_json_members;
    long request_timeout;    /* seconds for a whole request */
    long session_ttl;        /* seconds a login session lasts */
    long commit_batch;       /* most writes in one group commit */
    long metrics_public;     /* 1: /metrics needs no auth */
    long workers;            /* task worker threads (0: none in this process) */
    long task_lease;         /* seconds a claimed task is leased between heartbeats */
    long task_retention;     /* seconds finished tasks are kept */
    long queue_poll_only;    /* 1: no LISTEN connection on PostgreSQL, polling only */
    long allow_private_targets;  /* 1: webhooks may reach loopback and private addresses */
    char *db_url;            /* empty: SQLite file in data_dir */
    char *analytics_memory;  /* DuckDB memory_limit */
    long analytics_threads;
    long query_timeout;      /* ms an ad-hoc analytics query may run */
    long query_max_rows;
    long export_ttl;         /* seconds a finished export is kept */
    long etl_max_lag;        /* seconds of ETL lag /readyz tolerates (0: any) */
    char *ai_model;          /* GGUF path, or "" */
    char *ai_openai;         /* OpenAI-compatible server config, or "" */
    long ai_threads;
    long ai_timeout;         /* ms */
    long ai_cache_ttl;       /* seconds a cached AI answer is kept */
    char *backup_dir;        /* periodic backups go here ("": <data_dir>/backups) */
    char *backup_every;      /* their cron schedule ("" or "off": none) */
    long backup_keep;        /* newest periodic backups kept */
    char *cors_origins;      /* comma-separated exact origins for /v1/public ("": no CORS) */
    long hsts_max_age;       /* Strict-Transport-Security max-age (0: not sent) */
    char *rate_public;       /* "COUNT/SECONDS[,BURST]" or "0": public form reads and submissions */
    char *rate_login;        /* the same for POST /v1/auth/login */
    char *rate_management;   /* the same per principal for other authenticated routes */
    char *rate_ai;           /* the same per principal for the AI routes */
    char *trusted_proxies;   /* comma-separated addresses whose X-Forwarded-For is believed */
    char *encryption_key;    /* the key file's text (security/crypto.h), or "" */
    char *analytics_node;    /* auto, always or never: may this serve node hold analytics */
    char *advertise_url;     /* where other nodes reach this one ("": http://LISTEN) */
    long analytics_lease;    /* seconds the analytics node's lease lasts unrenewed */
};

/* Fills c with defaults. */
void config_init(struct config *c);
void config_release(struct config *c);

/* A subcommand's own flag (--name VALUE), not an option of the table. */
struct config_extra {
    const char *name;    /* without "--"; NULL ends the array */
    const char *value;   /* set by config_load when given, else untouched */
    int flag;            /* takes no value: "1" when given (or --name=VALUE) */
};

/*
 * Applies config file, environment and argv[first..argc) flags in that
 * order. Flags not in the table are looked up in extras (may be NULL); other
 * unknown flags and bad values are errors. Positional arguments are not
 * accepted.
 */
int config_load(struct config *c, int argc, char **argv, int first,
                struct config_extra *extras, struct fmd_err *err);

/* Sets one option by name from a string; 0 or FMD_EINVAL. */
int config_set(struct config *c, const char *name, const char *value,
               const char *origin, struct fmd_err *err);

/* 1 if value, a secret option's, holds a password (user:pass@ or password=). */
int config_has_password(const char *value);

/* Prints every option with its default and help, for --help. */
void config_usage(void);

#endif
