/*
 * leases.h - named leases in the database (table leases, migration 14), and
 * an elector thread that stands for one.
 *
 * A lease is a row (name, holder, url, expires_at). Whoever holds it renews
 * it before it expires; anyone may take it once it has expired. Taking and
 * renewing are one conditional upsert, so of any number of candidates on
 * any number of nodes one wins. The row lives in the shared database, so it
 * works on both engines and through connection poolers.
 *
 * Times are Unix ms of the writing node's wall clock: nodes' clocks must
 * agree to well within a third of the lease (NTP does). A holder counts
 * itself leader only until two thirds of the lease after the start of its
 * last successful renewal (a monotonic clock), so it steps down before any
 * other node can take over, even when it cannot reach the database at all.
 */
#ifndef FMD_STORE_LEASES_H
#define FMD_STORE_LEASES_H

#include <stdint.h>

#include "core/err.h"
#include "db/db.h"
#include "db/writer.h"

#define LEASE_HOLDER_MAX 127
#define LEASE_URL_MAX 511

struct store_lease {
    char holder[LEASE_HOLDER_MAX + 1];
    char url[LEASE_URL_MAX + 1];
    int64_t expires_at;
};

/*
 * Takes or renews lease name for holder until now + ttl_ms: *held = 1 if
 * holder has it now, 0 if another holder's lease has not expired. force
 * takes it whatever its state.
 */
int store_lease_take(struct db *db, const char *name, const char *holder, const char *url,
                     int64_t now, int64_t ttl_ms, int force, int *held, struct fmd_err *err);
/* Gives the lease up if holder has it (expires it at once). */
int store_lease_give_up(struct db *db, const char *name, const char *holder,
                        struct fmd_err *err);
/* The unexpired lease name into *out: 1, or 0 when nobody holds it. */
int store_lease_get(struct db *db, const char *name, int64_t now, struct store_lease *out,
                    struct fmd_err *err);

/* Forgets every lease: after a restore, those of the processes that wrote the
 * backup, which are gone, would only keep the others waiting. */
int store_leases_forget(struct db *db, struct fmd_err *err);

enum store_elector_mode {
    ELECTOR_CANDIDATE = 1,   /* takes the lease when free or expired */
    ELECTOR_FORCE,           /* takes it over at every renewal */
};

struct store_elector_opts {
    struct db_writer *writer;
    const char *name;        /* the lease */
    const char *holder;      /* this process, unique among processes */
    const char *url;         /* stored in the lease for the others (or set later) */
    int64_t ttl_ms;          /* the lease's length; renewed every ttl_ms / 5 */
    enum store_elector_mode mode;
    /* Called on the elector's thread when this process gains (1) or loses
     * (0) the lease; may be NULL. */
    void (*on_change)(void *arg, int leading);
    void *arg;
};

struct store_elector;

/* Makes an elector, not standing yet (so that *out can be handed round first). */
int store_elector_new(const struct store_elector_opts *o, struct store_elector **out,
                      struct fmd_err *err);
/* Sets the URL stored in the lease; before store_elector_start only. */
int store_elector_set_url(struct store_elector *e, const char *url, struct fmd_err *err);
/* Starts standing; the first attempt is made before returning. */
int store_elector_start(struct store_elector *e, struct fmd_err *err);
/* 1 while this process holds the lease (see the top of this file). Thread-safe. */
int store_elector_leading(const struct store_elector *e);
/* Stops standing and gives the lease up, so another node takes over at once;
 * frees e (one that never started too). */
void store_elector_stop(struct store_elector *e);

#endif
