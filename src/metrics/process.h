/*
 * process.h - gauges about the process itself and the disk under its data.
 *
 * The standard process_* families that Prometheus client libraries export
 * (resident and virtual memory, open and maximum file descriptors, CPU
 * seconds, start time), read from /proc/self, and the free and total bytes of
 * the filesystem holding the data directory, so the alert rules and the
 * dashboard need no node exporter. Registered once at start, refreshed on
 * each scrape.
 */
#ifndef FMD_METRICS_PROCESS_H
#define FMD_METRICS_PROCESS_H

/* Registers the families; 0, or FMD_ENOMEM when one cannot be. */
int metrics_process_init(void);

/*
 * Refreshes every family from /proc/self and statvfs(data_dir) (data_dir may
 * be NULL: the filesystem gauges are then left as they are). A value that
 * cannot be read is left as it was; never fails visibly.
 */
void metrics_process_update(const char *data_dir);

#endif
