/*
 * db_target.h - a fresh database for one unit test, on either driver.
 *
 * Without FORMD_TEST_PG_URL a test gets the SQLite file name it asked for
 * (in the per-test directory scripts/run-units makes). With it
 * (postgres://USER@HOST:PORT/DB, as scripts/pg-cluster prints), the same
 * test runs on PostgreSQL: each call makes a new, empty database on that
 * server and gives its URL, so tests stay as isolated as with files.
 */
#ifndef FMD_TESTS_UNIT_DB_DB_TARGET_H
#define FMD_TESTS_UNIT_DB_DB_TARGET_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The PostgreSQL server tests may use, or NULL. */
static inline const char *test_pg_url(void)
{
    const char *u = getenv("FORMD_TEST_PG_URL");
    return u && *u ? u : NULL;
}

/* Makes database name (new: names carry the pid) on the test server; its URL in out, or -1. */
static inline int test_pg_database(const char *name, char *out, size_t cap)
{
    const char *url = test_pg_url();
    const char *slash = url ? strrchr(url, '/') : NULL;
    char sql[200];
    PGconn *c;
    PGresult *r;
    int ok;

    if (!slash || (size_t)snprintf(out, cap, "%.*s/%s", (int)(slash - url), url, name) >= cap)
        return -1;
    if (!(c = PQconnectdb(url)) || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", url, c ? PQerrorMessage(c) : "");
        PQfinish(c);
        return -1;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/*
 * The target for a test's database: sqlite_file, or with FORMD_TEST_PG_URL
 * a new PostgreSQL database named after it and this process.
 */
static inline const char *test_db_target(const char *sqlite_file, char *out, size_t cap)
{
    char name[64];
    size_t i, n;

    if (!test_pg_url()) {
        snprintf(out, cap, "%s", sqlite_file);
        return out;
    }
    n = (size_t)snprintf(name, sizeof(name), "formd_unit_%ld_%s", (long)getpid(), sqlite_file);
    for (i = 0; i < n && i < sizeof(name); i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            name[i] = '_';
    if (test_pg_database(name, out, cap))
        abort();
    return out;
}

#endif
