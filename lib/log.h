/* Logging: one line per event, naming the object it is about.
 *
 *   log_info("pod %s/%s: sandbox ready", ns, name);
 *
 * Library code returns negative errno and never logs; the program's top
 * level logs once, with context. */
#ifndef SKIFF_LOG_H
#define SKIFF_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* The program name printed in every line; set once from main(). */
void log_init(const char *program, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
/* Sends log lines to fd (default 2). */
void log_set_fd(int fd);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* How library code that runs for long (a source, a datapath mode) tells
 * its owner what happened without printing: one message with a level.
 * The program's top level passes log_report, which logs it (ud unused). */
typedef void (*log_report_fn)(enum log_level level, const char *msg, void *ud);
void log_report(enum log_level level, const char *msg, void *ud);
/* Formats and calls fn(level, msg, ud); nothing when fn is NULL. */
void report_msg(log_report_fn fn, void *ud, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
