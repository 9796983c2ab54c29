/* The CNI protocol (spec 0.3.0 to 1.1.0): environment, errors, versions,
 * results and delegation to other plugins. Shared by skiff-cni and
 * skiff-ipam. No function here prints except cni_print_*.
 *
 * Convention: functions return 0 (or a count) on success and a negative
 * errno on failure; when they fail and err is not NULL, *err holds the CNI
 * error code and a message naming the field or value at fault. */
#ifndef SKIFF_CNI_H
#define SKIFF_CNI_H

#include "lib/inet.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Error codes from the spec; 999 is what the Go reference plugins use for
 * runtime failures. */
enum {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	CNI_ERR_LIMITED = 51,
	CNI_ERR_INTERNAL = 999,
};

struct cni_error {
	int code;
	char msg[512];
	char details[1024];
};

/* Fills err (if not NULL) and returns -errno_value, for `return cni_fail(...)`. */
int cni_fail(struct cni_error *err, int errno_value, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds details text to an already filled error. */
void cni_error_details(struct cni_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

enum cni_cmd {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS,
	CNI_CMD_GC,
};

/* The CNI_* environment. Strings point into environ; empty ones are NULL. */
struct cni_env {
	enum cni_cmd cmd;
	const char *command;      /* CNI_COMMAND as given */
	const char *container_id; /* CNI_CONTAINERID */
	const char *netns;        /* CNI_NETNS (NULL on DEL after the netns is gone) */
	const char *ifname;       /* CNI_IFNAME */
	const char *args;         /* CNI_ARGS, K=V;K=V */
	const char *path;         /* CNI_PATH, colon-separated */
};

/* Reads and validates CNI_* for the command: container ID syntax, ifname
 * syntax (1-15 chars, not . or .., no / : or space), required variables per
 * command. Errors are CNI_ERR_INVALID_ENV naming the variable. */
int cni_env_parse(struct cni_env *env, struct cni_error *err);
bool cni_ifname_valid(const char *ifname);
bool cni_container_id_valid(const char *id);

/* CNI_ARGS: copies the value of key into buf; -ENOENT when absent,
 * -EINVAL on a malformed pair. */
int cni_args_get(const char *args, const char *key, char *buf, size_t size);
/* Rejects keys not in known (NULL-terminated) unless IgnoreUnknown=1/true. */
int cni_args_validate(const char *args, const char *const *known, struct cni_error *err);

/* Versions this implementation speaks, oldest first, NULL-terminated. */
extern const char *const cni_supported_versions[];
bool cni_version_supported(const char *version);
/* Compares dotted versions: <0, 0, >0. Unparsable sorts lowest. */
int cni_version_cmp(const char *a, const char *b);
/* The JSON answer to VERSION. */
json_t *cni_version_info(const char *config_version);

#define CNI_MAX_IFACES 8
#define CNI_MAX_IPS 8
#define CNI_MAX_ROUTES 64

struct cni_interface {
	char name[16];
	char mac[18];
	int mtu;          /* 0: not reported */
	char sandbox[256];/* empty for host interfaces */
};

struct cni_ip {
	struct ipcidr address; /* with prefix, host bits kept */
	bool has_gateway;
	struct ipaddr gateway;
	int interface;           /* index into interfaces, -1 for none (IPAM) */
};

struct cni_route {
	struct ipcidr dst;
	bool has_gw;
	struct ipaddr gw;
};

struct cni_result {
	struct cni_interface interfaces[CNI_MAX_IFACES];
	int n_interfaces;
	struct cni_ip ips[CNI_MAX_IPS];
	int n_ips;
	struct cni_route routes[CNI_MAX_ROUTES];
	int n_routes;
	json_t *dns; /* owned; NULL when empty. Keys: nameservers, domain, search, options */
};

void cni_result_clear(struct cni_result *r);
/* Encodes in the given version: 0.3.x and 0.4.0 add "version":"4"|"6" to
 * each IP; IPAM results (no interfaces) omit "interfaces". */
json_t *cni_result_encode(const struct cni_result *r, const char *version);
/* Decodes a result of any supported version (prevResult, a delegated IPAM
 * plugin's output). */
int cni_result_decode(json_t *j, struct cni_result *out, struct cni_error *err);

/* Prints to stdout as the spec asks. */
int cni_print_json(json_t *j);
void cni_print_error(const char *version, const struct cni_error *err);

/* Runs plugin `type` found in CNI_PATH with CNI_COMMAND=command, the rest of
 * env as given, and conf on stdin (what the reference plugins do for IPAM
 * delegation). On success *out holds the parsed stdout (NULL when empty). A
 * plugin error is returned as its own code and msg. */
int cni_delegate(const char *type, const struct cni_env *env, const char *command,
		 const char *conf, json_t **out, struct cni_error *err);

#endif
