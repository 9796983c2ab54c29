/* Kubernetes name rules. Each returns NULL when valid, else the message
 * Kubernetes uses for the violation. */
#ifndef SKIFF_KUBE_NAMES_H
#define SKIFF_KUBE_NAMES_H

/* RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', <= 253. */
const char *kube_dns1123_subdomain_error(const char *s);
/* RFC 1123 label: lowercase alphanumerics and '-', <= 63. */
const char *kube_dns1123_label_error(const char *s);
/* RFC 1035 label: as above but starting with a letter. */
const char *kube_dns1035_label_error(const char *s);

#endif
