/* Kubernetes resource quantities ("100m", "1.5", "128Mi", "1e3", "2G"):
 * the text form of resource.Quantity, as allocatable and requests carry
 * them. Parsed into integers the way the scheduler compares them: CPU in
 * millicores, everything else in whole units (bytes, pods, devices),
 * rounded up as Quantity.MilliValue() and Quantity.Value() round.
 *
 *   int64_t mcpu, bytes;
 *   kube_quantity_milli("250m", &mcpu);   // 250
 *   kube_quantity_value("1Gi", &bytes);   // 1073741824
 */
#ifndef SKIFF_KUBE_QUANTITY_H
#define SKIFF_KUBE_QUANTITY_H

#include <jansson.h>
#include <stdint.h>

/* Parses s into thousandths of its unit (rounded up). -EINVAL when s is
 * not a quantity, -ERANGE when it does not fit in int64. */
int kube_quantity_milli(const char *s, int64_t *out);
/* Parses s into whole units (rounded up). */
int kube_quantity_value(const char *s, int64_t *out);
/* The same for a JSON value: a quantity string or a number (clients may
 * send `cpu: 1` unquoted). */
int kube_quantity_json_milli(json_t *v, int64_t *out);
int kube_quantity_json_value(json_t *v, int64_t *out);

#endif
