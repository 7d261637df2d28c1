/*
 * log — stderr logging with a process-wide level. Each line is written with one
 * fprintf so lines from one process never interleave mid-line.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "revokd";
static enum log_level log_level_cur = LOG_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog, enum log_level level)
{
    log_prog = prog;
    log_level_cur = level;
}

void log_set_level(enum log_level level)
{
    log_level_cur = level;
}

enum log_level log_get_level(void)
{
    return log_level_cur;
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (unsigned i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_level_cur)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ %s %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, log_prog, log_names[level], msg);
}
