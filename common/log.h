/*
 * log — the one place the programs write diagnostics. Lines go to stderr as
 * "prog level: message" so a container runtime or systemd captures them; the level
 * is set once at start from the config. Log at the edge where context is known
 * (the caller that holds the file name, the peer, the issuer), not at every level.
 */
#ifndef REVOKD_LOG_H
#define REVOKD_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* prog is kept by pointer (a string literal). */
void log_init(const char *prog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Returns 0 and sets *out for "error", "warn", "info" or "debug"; -EINVAL otherwise. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
