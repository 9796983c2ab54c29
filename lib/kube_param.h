/* Query parameters as kube-apiserver reads them: k8s.io/apimachinery's
 * conversion of url.Values into ListOptions, DeleteOptions,
 * PodLogOptions and the rest (runtime.Convert_Slice_string_To_bool,
 * Convert_Slice_string_To_int64). One parser for every boolean and
 * integer parameter skiff-server and the kubelet read.
 *
 *   kube_param_bool("True")    // true (so watch=True from the Python client)
 *   kube_param_bool("0")       // false; so are "false", "FALSE", absent (NULL)
 *   kube_param_bool("")        // true: a present parameter is true unless 0 or false
 *   kube_param_int64("-5", &n) // 0, n = -5; "5s", " 5", "0x5": -EINVAL
 */
#ifndef SKIFF_KUBE_PARAM_H
#define SKIFF_KUBE_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A boolean parameter's value (v NULL: absent). Only absence, "0" and
 * "false" in any case are false; anything else is true (upstream never
 * refuses a boolean). */
bool kube_param_bool(const char *v);

/* An integer parameter as Go's strconv.ParseInt(v, 10, 64): an optional
 * sign and decimal digits, nothing else. -EINVAL for another text (an
 * empty one too), -ERANGE outside int64. */
int kube_param_int64(const char *v, int64_t *out);

/* The message upstream answers a bad integer with, as strconv words it:
 * `strconv.ParseInt: parsing "5s": invalid syntax` (r: the error of
 * kube_param_int64). */
void kube_param_int64_error(const char *v, int r, char *buf, size_t len);

#endif
