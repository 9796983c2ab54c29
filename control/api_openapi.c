/* OpenAPI documents: an empty /openapi/v2 (a valid empty protobuf
 * document), the /openapi/v3 index, and per group-version v3 documents
 * that (a) declare the fieldValidation parameter on every PATCH so kubectl
 * leaves validation to the server, and (b) carry hand-written schemas for
 * the core kinds, enough for `kubectl explain pod.spec.containers`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define REF(t) "{\"$ref\":\"#/components/schemas/io.k8s.api.core.v1." t "\"}"
#define META_REF "{\"$ref\":\"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\"}"
#define STR(d) "{\"type\":\"string\",\"description\":\"" d "\"}"
#define INT(d) "{\"type\":\"integer\",\"format\":\"int32\",\"description\":\"" d "\"}"
#define ARR(ref, d) "{\"type\":\"array\",\"items\":" ref ",\"description\":\"" d "\"}"
#define STRARR(d) "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"" d "\"}"
#define MAP(d) "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},\"description\":\"" d "\"}"
#define OBJ(d) "{\"type\":\"object\",\"description\":\"" d "\"}"

/* Schemas of the core group, written by hand from the API reference. */
static const char core_schemas[] =
	"{"
	"\"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\":{\"type\":\"object\","
	"\"description\":\"ObjectMeta is metadata that all persisted resources must have.\","
	"\"properties\":{"
	"\"name\":" STR("Name must be unique within a namespace.") ","
	"\"namespace\":" STR("Namespace defines the space within which each name must be unique.") ","
	"\"labels\":" MAP("Map of string keys and values that can be used to organize and categorize objects.") ","
	"\"annotations\":" MAP("Annotations is an unstructured key value map stored with a resource.") ","
	"\"generateName\":" STR("GenerateName is an optional prefix used by the server to generate a unique name.") ","
	"\"uid\":" STR("UID is the unique in time and space value for this object.") ","
	"\"resourceVersion\":" STR("An opaque value that represents the internal version of this object.") ","
	"\"generation\":{\"type\":\"integer\",\"format\":\"int64\",\"description\":\"A sequence number representing a specific generation of the desired state.\"},"
	"\"creationTimestamp\":" STR("The time at which this object was created.") ","
	"\"deletionTimestamp\":" STR("The time at which this resource will be deleted.") ","
	"\"finalizers\":" STRARR("Must be empty before the object is deleted from the registry.") ","
	"\"ownerReferences\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"List of objects depended by this object.\"}"
	"}},"
	"\"io.k8s.api.core.v1.Pod\":{\"type\":\"object\","
	"\"description\":\"Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.\","
	"\"properties\":{"
	"\"apiVersion\":" STR("APIVersion defines the versioned schema of this representation of an object.") ","
	"\"kind\":" STR("Kind is a string value representing the REST resource this object represents.") ","
	"\"metadata\":" META_REF ","
	"\"spec\":" REF("PodSpec") ","
	"\"status\":" REF("PodStatus")
	"},\"x-kubernetes-group-version-kind\":[{\"group\":\"\",\"kind\":\"Pod\",\"version\":\"v1\"}]},"
	"\"io.k8s.api.core.v1.PodSpec\":{\"type\":\"object\",\"required\":[\"containers\"],"
	"\"description\":\"PodSpec is a description of a pod.\","
	"\"properties\":{"
	"\"containers\":" ARR(REF("Container"), "List of containers belonging to the pod. Containers cannot currently be added or removed. There must be at least one container in a Pod. Cannot be updated.") ","
	"\"initContainers\":" ARR(REF("Container"), "List of initialization containers belonging to the pod.") ","
	"\"nodeName\":" STR("NodeName is a request to schedule this pod onto a specific node.") ","
	"\"nodeSelector\":" MAP("NodeSelector is a selector which must be true for the pod to fit on a node.") ","
	"\"restartPolicy\":" STR("Restart policy for all containers within the pod. One of Always, OnFailure, Never.") ","
	"\"serviceAccountName\":" STR("ServiceAccountName is the name of the ServiceAccount to use to run this pod.") ","
	"\"hostNetwork\":{\"type\":\"boolean\",\"description\":\"Host networking requested for this pod.\"},"
	"\"terminationGracePeriodSeconds\":{\"type\":\"integer\",\"format\":\"int64\",\"description\":\"Optional duration in seconds the pod needs to terminate gracefully.\"},"
	"\"volumes\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"List of volumes that can be mounted by containers belonging to the pod.\"}"
	"}},"
	"\"io.k8s.api.core.v1.Container\":{\"type\":\"object\",\"required\":[\"name\"],"
	"\"description\":\"A single application container that you want to run within a pod.\","
	"\"properties\":{"
	"\"name\":" STR("Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name (DNS_LABEL). Cannot be updated.") ","
	"\"image\":" STR("Container image name.") ","
	"\"imagePullPolicy\":" STR("Image pull policy. One of Always, Never, IfNotPresent.") ","
	"\"command\":" STRARR("Entrypoint array. Not executed within a shell.") ","
	"\"args\":" STRARR("Arguments to the entrypoint.") ","
	"\"workingDir\":" STR("Container's working directory.") ","
	"\"env\":" ARR(REF("EnvVar"), "List of environment variables to set in the container.") ","
	"\"ports\":" ARR(REF("ContainerPort"), "List of ports to expose from the container.") ","
	"\"readinessProbe\":" REF("Probe") ","
	"\"livenessProbe\":" REF("Probe") ","
	"\"resources\":" OBJ("Compute Resources required by this container.") ","
	"\"volumeMounts\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"Pod volumes to mount into the container's filesystem.\"}"
	"}},"
	"\"io.k8s.api.core.v1.EnvVar\":{\"type\":\"object\",\"required\":[\"name\"],"
	"\"description\":\"EnvVar represents an environment variable present in a Container.\","
	"\"properties\":{\"name\":" STR("Name of the environment variable.") ",\"value\":" STR("Variable references $(VAR_NAME) are expanded using the previously defined environment variables.") "}},"
	"\"io.k8s.api.core.v1.ContainerPort\":{\"type\":\"object\",\"required\":[\"containerPort\"],"
	"\"description\":\"ContainerPort represents a network port in a single container.\","
	"\"properties\":{\"containerPort\":" INT("Number of port to expose on the pod's IP address.") ","
	"\"name\":" STR("An IANA_SVC_NAME that names this port.") ",\"protocol\":" STR("Protocol for port. Must be UDP, TCP, or SCTP.") ","
	"\"hostPort\":" INT("Number of port to expose on the host.") "}},"
	"\"io.k8s.api.core.v1.Probe\":{\"type\":\"object\","
	"\"description\":\"Probe describes a health check to be performed against a container.\","
	"\"properties\":{\"httpGet\":" OBJ("HTTPGet specifies the http request to perform.") ",\"tcpSocket\":" OBJ("TCPSocket specifies a connection to a TCP port.") ","
	"\"exec\":" OBJ("Exec specifies the action to take.") ",\"initialDelaySeconds\":" INT("Seconds after the container has started before probes are initiated.") ","
	"\"periodSeconds\":" INT("How often (in seconds) to perform the probe.") "}},"
	"\"io.k8s.api.core.v1.PodStatus\":{\"type\":\"object\","
	"\"description\":\"PodStatus represents information about the status of a pod.\","
	"\"properties\":{\"phase\":" STR("The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle.") ","
	"\"podIP\":" STR("IP address allocated to the pod.") ",\"hostIP\":" STR("IP address of the host to which the pod is assigned.") "}},"
	"\"io.k8s.api.core.v1.Service\":{\"type\":\"object\","
	"\"description\":\"Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.\","
	"\"properties\":{\"apiVersion\":" STR("APIVersion defines the versioned schema of this representation of an object.") ","
	"\"kind\":" STR("Kind is a string value representing the REST resource this object represents.") ","
	"\"metadata\":" META_REF ",\"spec\":" REF("ServiceSpec") "},"
	"\"x-kubernetes-group-version-kind\":[{\"group\":\"\",\"kind\":\"Service\",\"version\":\"v1\"}]},"
	"\"io.k8s.api.core.v1.ServiceSpec\":{\"type\":\"object\","
	"\"description\":\"ServiceSpec describes the attributes that a user creates on a service.\","
	"\"properties\":{\"type\":" STR("type determines how the Service is exposed. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.") ","
	"\"clusterIP\":" STR("clusterIP is the IP address of the service and is usually assigned randomly.") ","
	"\"selector\":" MAP("Route service traffic to pods with label keys and values matching this selector.") ","
	"\"ports\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"The list of ports that are exposed by this service.\"}"
	"}}"
	"}";

static void add_generic_schema(json_t *schemas, const struct api_resource *r)
{
	char name[256];
	const char *g = *r->group ? r->group : "core";

	snprintf(name, sizeof(name), "io.k8s.api.%s.%s.%s", g, r->version, r->kind);
	if (json_object_get(schemas, name))
		return;
	json_object_set_new(
		schemas, name,
		json_pack("{s:s,s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s}},s:[{s:s,s:s,s:s}]}",
			  "type", "object", "description", r->kind, "properties", "apiVersion",
			  "type", "string", "kind", "type", "string", "metadata", "$ref",
			  "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
			  "spec", "type", "object", "status", "type", "object",
			  "x-kubernetes-group-version-kind", "group", r->group, "kind", r->kind,
			  "version", r->version));
}

static json_t *gv_document(const char *group, const char *version)
{
	json_t *paths = json_object(), *schemas = json_loads(core_schemas, 0, NULL);

	if (!schemas)
		schemas = json_object();
	if (*group) {
		/* Only the core group uses the hand-written schemas. */
		json_t *meta = json_incref(json_object_get(
			schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));

		json_decref(schemas);
		schemas = json_object();
		json_object_set_new(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", meta);
	}
	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];
		char path[512], base[128];
		json_t *params;

		if (!streq(r->group, group) || !streq(r->version, version))
			continue;
		if (*group)
			snprintf(base, sizeof(base), "/apis/%s/%s", group, version);
		else
			snprintf(base, sizeof(base), "/api/%s", version);
		if (r->namespaced)
			snprintf(path, sizeof(path), "%s/namespaces/{namespace}/%s/{name}", base, r->plural);
		else
			snprintf(path, sizeof(path), "%s/%s/{name}", base, r->plural);
		params = json_pack("[{s:s,s:s,s:s,s:{s:s}},{s:s,s:s,s:s,s:{s:s}},{s:s,s:s,s:s,s:{s:s}}]",
				   "name", "fieldValidation", "in", "query", "description",
				   "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
				   "schema", "type", "string", "name", "fieldManager", "in", "query",
				   "description", "fieldManager is a name associated with the actor or entity that is making these changes.",
				   "schema", "type", "string", "name", "dryRun", "in", "query",
				   "description", "When present, indicates that modifications should not be persisted.",
				   "schema", "type", "string");
		json_object_set_new(
			paths, path,
			json_pack("{s:{s:s,s:o,s:{s:s,s:s,s:s},s:{s:{s:s}},s:s,s:s}}", "patch",
				  "description", "partially update the specified object", "parameters",
				  params, "x-kubernetes-group-version-kind", "group", r->group,
				  "version", r->version, "kind", r->kind, "responses", "200",
				  "description", "OK", "x-kubernetes-action", "patch",
				  "operationId", r->plural));
		add_generic_schema(schemas, r);
	}
	return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.0", "info", "title",
			 "Kubernetes", "version", "v1.30.0", "paths", paths, "components",
			 "schemas", schemas);
}

enum MHD_Result api_openapi(struct api_req *q, const char *path)
{
	char group[128] = "";

	if (streq(path, "/openapi/v2")) {
		/* An empty body is a valid, empty protobuf document. */
		return api_reply_text(q, 200, "application/octet-stream", "");
	}
	if (streq(path, "/openapi/v3")) {
		json_t *paths = json_object();

		json_object_set_new(paths, "api/v1",
				    json_pack("{s:s}", "serverRelativeURL", "/openapi/v3/api/v1?hash=1"));
		for (size_t i = 0; i < api_n_resources; i++) {
			const struct api_resource *r = &api_resources[i];
			char key[160], url[200];

			if (!*r->group)
				continue;
			snprintf(key, sizeof(key), "apis/%s/%s", r->group, r->version);
			snprintf(url, sizeof(url), "/openapi/v3/%s?hash=1", key);
			json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
		}
		return api_reply_json(q, 200, json_pack("{s:o}", "paths", paths));
	}
	if (streq(path, "/openapi/v3/api/v1"))
		return api_reply_json(q, 200, gv_document("", "v1"));
	if (sscanf(path, "/openapi/v3/apis/%127[^/]/v1", group) == 1 && api_group_known(group)) {
		char want[200];

		snprintf(want, sizeof(want), "/openapi/v3/apis/%s/v1", group);
		if (streq(path, want))
			return api_reply_json(q, 200, gv_document(group, "v1"));
	}
	{
		struct api_err e = { 0 };

		api_err_set(&e, 404, "NotFound", "the server could not find the requested resource");
		return api_reply_err(q, &e);
	}
}
