/*
 * process.c - process_* and data-directory filesystem gauges.
 *
 * /proc/self/stat fields used (proc(5)): 14 utime and 15 stime in clock
 * ticks, 22 starttime in ticks after boot, 23 vsize in bytes, 24 rss in
 * pages. Field 2 (comm) is parenthesised and may hold spaces, so fields are
 * counted from the last ')'. Boot time is the "btime" line of /proc/stat.
 */
#include "metrics/process.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/err.h"
#include "metrics/metrics.h"
#include "core/banned.h"

static struct metric *m_rss, *m_vsize, *m_fds, *m_maxfds, *m_cpu, *m_start, *m_free, *m_size;

/* CPU seconds already added to m_cpu; the counter advances by what is new. */
static pthread_mutex_t cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static double cpu_seen;

int metrics_process_init(void)
{
    /* A new registry (after metrics_reset) counts from zero: start from the full total. */
    pthread_mutex_lock(&cpu_lock);
    cpu_seen = 0;
    pthread_mutex_unlock(&cpu_lock);
    m_rss = metric_register("process_resident_memory_bytes", "Resident memory size in bytes",
                            METRIC_GAUGE, NULL, NULL, 0);
    m_vsize = metric_register("process_virtual_memory_bytes", "Virtual memory size in bytes",
                              METRIC_GAUGE, NULL, NULL, 0);
    m_fds = metric_register("process_open_fds", "Open file descriptors", METRIC_GAUGE, NULL,
                            NULL, 0);
    m_maxfds = metric_register("process_max_fds", "Limit of open file descriptors",
                               METRIC_GAUGE, NULL, NULL, 0);
    m_cpu = metric_register("process_cpu_seconds_total", "User and system CPU time spent",
                            METRIC_COUNTER, NULL, NULL, 0);
    m_start = metric_register("process_start_time_seconds",
                              "Start time of the process since the Unix epoch", METRIC_GAUGE,
                              NULL, NULL, 0);
    m_free = metric_register("formd_data_dir_free_bytes",
                             "Bytes available to formd on the data directory's filesystem",
                             METRIC_GAUGE, NULL, NULL, 0);
    m_size = metric_register("formd_data_dir_size_bytes",
                             "Size of the data directory's filesystem in bytes", METRIC_GAUGE,
                             NULL, NULL, 0);
    return m_rss && m_vsize && m_fds && m_maxfds && m_cpu && m_start && m_free && m_size
               ? 0
               : FMD_ENOMEM;
}

static long long boot_time(void)
{
    char line[256];
    long long bt = -1;
    FILE *f = fopen("/proc/stat", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "btime ", 6)) {
            bt = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return bt;
}

static void read_stat(void)
{
    char buf[1024], *p, *end;
    unsigned long long v[24] = {0};
    double ticks = (double)sysconf(_SC_CLK_TCK), cpu;
    long long bt;
    size_t n;
    int i;
    FILE *f = fopen("/proc/self/stat", "r");

    if (!f)
        return;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')) || ticks <= 0)
        return;
    /* Fields 3.. after the comm; field 3 (the state) is a letter: skipped. */
    p++;
    for (i = 3; i <= 24; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return;
        v[i - 1] = strtoull(p, &end, 10);
        if (end == p)
            while (*end && *end != ' ')
                end++;
        p = end;
    }
    metric_set0(m_vsize, (double)v[22]);
    metric_set0(m_rss, (double)v[23] * (double)sysconf(_SC_PAGESIZE));
    if ((bt = boot_time()) >= 0)
        metric_set0(m_start, (double)bt + (double)v[21] / ticks);
    cpu = (double)(v[13] + v[14]) / ticks;
    pthread_mutex_lock(&cpu_lock);
    if (cpu > cpu_seen) {
        metric_inc0(m_cpu, cpu - cpu_seen);
        cpu_seen = cpu;
    }
    pthread_mutex_unlock(&cpu_lock);
}

static void read_fds(void)
{
    struct rlimit rl;
    struct dirent *e;
    long n = 0;
    DIR *d = opendir("/proc/self/fd");

    if (d) {
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        metric_set0(m_fds, (double)(n - 1));   /* less the one opendir holds */
    }
    if (!getrlimit(RLIMIT_NOFILE, &rl))
        metric_set0(m_maxfds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

void metrics_process_update(const char *data_dir)
{
    struct statvfs st;

    read_stat();
    read_fds();
    if (data_dir && !statvfs(data_dir, &st)) {
        metric_set0(m_free, (double)st.f_bavail * (double)st.f_frsize);
        metric_set0(m_size, (double)st.f_blocks * (double)st.f_frsize);
    }
}
