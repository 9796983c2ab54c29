/* The root CA publisher, as kube-controller-manager's
 * root-ca-cert-publisher: every active namespace has a ConfigMap
 * "kube-root-ca.crt" whose data."ca.crt" is the cluster CA (PEM), the
 * ca.crt of the service-account volume the kubelet projects into pods. A
 * changed or missing copy is written again; a namespace being deleted gets
 * none. */
#ifndef SKIFF_CTRL_ROOTCA_H
#define SKIFF_CTRL_ROOTCA_H

#include "control/ctrl_plan.h"

#define ROOTCA_CONFIGMAP "kube-root-ca.crt"

/* Plans the create (cm NULL) or update of ns's kube-root-ca.crt so that
 * it holds ca (a PEM text). */
int rootca_compute(json_t *ns, json_t *cm, const char *ca, struct ctrl_plan *p);

#endif
