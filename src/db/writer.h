/*
 * writer.h - the single writer with group commit.
 *
 * All writes go through one thread that owns the only write connection. It
 * takes every job waiting (up to a batch limit), runs them in one
 * transaction, each inside its own savepoint so one failing job rolls back
 * alone, commits once (one fsync for the whole batch), and only then calls
 * each job's done callback. So a job's done(rc = 0) means its data is on
 * disk, and N concurrent writers cost one fsync rather than N.
 *
 * Jobs run on the writer thread: they must not block on anything but the
 * database and must not call back into the writer.
 */
#ifndef FMD_DB_WRITER_H
#define FMD_DB_WRITER_H

#include "db/db.h"

struct db_writer;

/* Runs inside the batch's transaction. Return 0 to keep its changes. */
typedef int (*db_write_fn)(struct db *db, void *arg, struct fmd_err *err);
/* Called on the writer thread after the batch committed (or failed). */
typedef void (*db_done_fn)(void *arg, int rc, const struct fmd_err *err);

/* batch_max: most jobs per transaction. */
int db_writer_start(const char *target, int batch_max, struct db_writer **out,
                    struct fmd_err *err);
/* Finishes every job already submitted, then stops the thread and frees w. */
void db_writer_stop(struct db_writer *w);

/* Queues a job; done is always called exactly once, unless this fails. */
int db_writer_submit(struct db_writer *w, db_write_fn fn, db_done_fn done, void *arg);
/* Queues a job and waits for it to be durable. Returns the job's result. */
int db_writer_run(struct db_writer *w, db_write_fn fn, void *arg, struct fmd_err *err);

/* Observers for metrics: called after each commit with the batch size and time. */
typedef void (*db_writer_observer)(int batch, double seconds);
void db_writer_set_observer(struct db_writer *w, db_writer_observer obs);

#endif
