/* Cron schedules for the CronJob controller, as upstream reads them
 * (robfig/cron v3 ParseStandard, in a time zone of the system's IANA
 * database), without a clock: every function is given the time.
 *
 *   struct cron_schedule s;  struct cron_zone *z;
 *   cron_parse("*\/15 9-17 * * mon-fri", &s, err, sizeof(err));
 *   cron_zone_load("Europe/Berlin", &z);
 *   time_t next = cron_next(&s, z, now);
 *
 * Syntax: five fields (minute, hour, day of month, month, day of week);
 * each a list of "*" or "?", a value, a range "a-b", with an optional step
 * "/n" ("a/n" is "a-max/n"); months JAN-DEC and days SUN-SAT by name, any
 * case; days of week 0-6. When neither day field is "*" (a "*" with a step
 * above 1 does not count), a day matches either, as cron does; else both.
 * @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.
 * Not supported: @every, seconds fields; a "TZ=" or "CRON_TZ=" prefix is
 * refused (upstream's API refuses it in favour of spec.timeZone). */
#ifndef SKIFF_CTRL_CRONJOB_SCHED_H
#define SKIFF_CTRL_CRONJOB_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cron_schedule {
	uint64_t minute, hour, dom, month, dow; /* bit n: value n; CRON_STAR: the field was "*" */
};

#define CRON_STAR (1ULL << 63)

/* -EINVAL with robfig's message in err ("end of range (60) above maximum
 * (59): 0-60"). */
int cron_parse(const char *spec, struct cron_schedule *out, char *err, size_t len);

/* A time zone read from /usr/share/zoneinfo (TZif version 2 or later;
 * after the last transition of the file, its last offset holds). NULL or ""
 * or "UTC" is UTC. -ENOENT for an unknown zone, -EINVAL for a name upstream
 * refuses ("Local", "..", an absolute path) or a malformed file. */
struct cron_zone;
int cron_zone_load(const char *name, struct cron_zone **out);
void cron_zone_free(struct cron_zone *z);
/* Seconds east of UTC at t. */
long cron_zone_offset(const struct cron_zone *z, time_t t);

/* The first time after t (whole seconds) that the schedule names, in the
 * zone (z NULL: UTC), as robfig's SpecSchedule.Next walks wall-clock time
 * (a time in a DST gap is skipped, one in a repeated hour may run twice);
 * 0 when nothing matches within five years. */
time_t cron_next(const struct cron_schedule *s, const struct cron_zone *z, time_t t);

#endif
