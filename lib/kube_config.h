/* Kubeconfig files: where the API server is and how to prove who we are.
 *
 *   struct kc_config *cfg;
 *   char err[256];
 *   if (kc_config_load(NULL, NULL, &cfg, err, sizeof(err)) < 0)
 *       log_error("kubeconfig: %s", err);
 *
 * Reads one kubeconfig: the path given, else the first existing file named
 * by $KUBECONFIG (a colon-separated list; files are not merged as kubectl
 * does), else ~/.kube/config. The context is the one named, else
 * current-context. From its cluster: server, certificate-authority(-data),
 * insecure-skip-tls-verify, tls-server-name; from its user:
 * client-certificate(-data), client-key(-data), token, tokenFile (read
 * once at load), username/password. Relative file paths are relative to
 * the kubeconfig's folder, as kubectl resolves them. Exec and auth-provider
 * plugins are refused (-EOPNOTSUPP) with a message. tls-server-name is
 * read but kube_client does not apply it yet (libcurl has no plain SNI
 * override; it needs CURLOPT_CONNECT_TO with the name as the URL host).
 *
 * In-cluster configuration (KUBERNETES_SERVICE_HOST/PORT and the projected
 * service-account token under /var/run/secrets/kubernetes.io/serviceaccount)
 * is not implemented yet: it belongs here, as kc_config_in_cluster(), once
 * pods can mount that token (issue 10, service accounts). */
#ifndef SKIFF_KUBE_CONFIG_H
#define SKIFF_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* A PEM blob: from a *-data field (decoded) or read from a file. */
struct kc_blob {
	char *data;
	size_t len;
};

struct kc_config {
	char *context;   /* the context used */
	char *server;    /* "https://host:port" */
	char *namespace; /* the context's namespace, else "default" */
	char *tls_server_name;
	struct kc_blob ca, cert, key;
	char *token;
	char *username, *password;
	bool insecure; /* insecure-skip-tls-verify */
};

/* path NULL: $KUBECONFIG, else ~/.kube/config. context NULL: the current
 * one. -ENOENT when no file, -EINVAL (message in err) on a malformed file
 * or an unknown context / cluster / user. */
int kc_config_load(const char *path, const char *context, struct kc_config **out,
		   char *err, size_t errlen);
/* The same from a buffer; dir resolves relative paths (NULL: cwd). */
int kc_config_parse(const char *buf, size_t len, const char *dir, const char *context,
		    struct kc_config **out, char *err, size_t errlen);
void kc_config_free(struct kc_config *cfg);

#endif
