"""Cases of test_python_client.sh: Kubernetes' official Python client
(Debian's python3-kubernetes) against skiff-server, used as its own
documentation shows. Objects are built with the client's model classes,
which leave apiVersion and kind unset. Usage: python_client.py DIR CASE...,
with KUBECONFIG, NS (a namespace name prefix unique to the run) and CACHE
(a folder for the dynamic client's discovery cache) in the environment.
Writes DIR/CASE: "ok", or the traceback of the failed check."""
import json
import os
import sys
import time
import traceback

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=os.environ["KUBECONFIG"])
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
NS = os.environ["NS"]
meta = client.V1ObjectMeta


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def namespace(suffix):
    """A new namespace, created from a model without apiVersion or kind."""
    name = "%s-%s" % (NS, suffix)
    ns = v1.create_namespace(client.V1Namespace(metadata=meta(name=name)))
    check(ns.metadata.name == name, "namespace created: %s" % ns.metadata.name)
    return name


def api_error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        return e
    raise AssertionError("%s succeeded" % fn.__name__)


def case_create_without_type():
    ns = namespace("type")
    cm = v1.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=meta(name="c1"), data={"a": "1"}))
    check((cm.api_version, cm.kind) == ("v1", "ConfigMap"),
          "defaulted type: %s %s" % (cm.api_version, cm.kind))
    cm.data["a"] = "2"
    cm.api_version = cm.kind = None  # a replace without them too
    cm = v1.replace_namespaced_config_map("c1", ns, cm)
    check(cm.data == {"a": "2"} and cm.kind == "ConfigMap", "replaced: %s" % cm)
    dep = apps.create_namespaced_deployment(ns, client.V1Deployment(
        metadata=meta(name="d1"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "d1"}),
            template=client.V1PodTemplateSpec(
                metadata=meta(labels={"app": "d1"}),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="c", image="busybox")])))))
    check((dep.api_version, dep.kind) == ("apps/v1", "Deployment"), "deployment type")
    # Naming another type is still refused, naming the field.
    e = api_error(v1.create_namespaced_config_map, ns,
                  {"apiVersion": "apps/v1", "metadata": {"name": "c2"}})
    check(e.status == 400 and "API version in the data (apps/v1)" in e.body, e.body)
    e = api_error(v1.create_namespaced_config_map, ns,
                  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c2"}})
    check(e.status == 400 and "kind in the data (Secret)" in e.body, e.body)
    e = api_error(v1.create_namespaced_config_map, ns, {"metadata": {"name": "c2"}},
                  dry_run="Some")
    check(e.status == 422 and "dryRun" in e.body, e.body)


def case_list_selectors_paging():
    ns = namespace("list")
    for i in range(7):
        v1.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=meta(name="c%d" % i, labels={"tier": "even" if i % 2 == 0 else "odd"})))
    got = v1.list_namespaced_config_map(ns, label_selector="tier=even")
    check(sorted(i.metadata.name for i in got.items) == ["c0", "c2", "c4", "c6"],
          "label selector: %s" % [i.metadata.name for i in got.items])
    got = v1.list_namespaced_config_map(ns, field_selector="metadata.name=c3")
    check([i.metadata.name for i in got.items] == ["c3"], "field selector")
    got = v1.list_namespaced_config_map(ns, label_selector="tier in (odd)",
                                        field_selector="metadata.name!=c1")
    check(sorted(i.metadata.name for i in got.items) == ["c3", "c5"], "both selectors")
    names, cont, pages = [], None, 0
    while True:
        page = v1.list_namespaced_config_map(ns, limit=3, _continue=cont)
        check(len(page.items) <= 3, "page of %d" % len(page.items))
        names += [i.metadata.name for i in page.items]
        pages += 1
        cont = page.metadata._continue
        if not cont:
            break
    check(sorted(names) == ["c%d" % i for i in range(7)] and pages == 3,
          "paging: %d pages, %s" % (pages, names))
    e = api_error(v1.list_namespaced_config_map, ns, limit="3s")
    check(e.status == 400 and "limit" in e.body, e.body)


def case_watch_from_resource_version():
    ns = namespace("watch")
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta(name="w1")))
    v1.patch_namespaced_config_map("w1", ns, {"data": {"k": "v"}})
    v1.delete_namespaced_config_map("w1", ns)
    seen = []
    w = watch.Watch()
    # The client sends watch=True: a watch, not a list.
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv,
                       timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    check(seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], "events: %s" % seen)


def case_watch_expired_410():
    ns = namespace("gone")
    rv = v1.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=meta(name="g"))).metadata.resource_version
    deadline = time.time() + 20
    while True:
        # Writes after rv, so that a compaction (every 3 s here) passes it.
        v1.patch_namespaced_config_map("g", ns, {"data": {"t": str(time.time())}})
        try:
            for _ in watch.Watch().stream(v1.list_namespaced_config_map, ns,
                                          resource_version=rv, timeout_seconds=1):
                pass
        except ApiException as e:
            check(e.status == 410 and "Expired" in e.reason, "410: %s %s" % (e.status, e.reason))
            return
        check(time.time() < deadline, "no 410 for resourceVersion %s in 20 s" % rv)
        time.sleep(1)


def case_patch_types():
    ns = namespace("patch")
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=meta(name="p", labels={"a": "1"}), data={"x": "1"}))
    # A dict: strategic merge patch; a list: JSON patch (the client picks).
    cm = v1.patch_namespaced_config_map("p", ns, {"data": {"y": "2"}})
    check(cm.data == {"x": "1", "y": "2"}, "strategic: %s" % cm.data)
    cm = v1.patch_namespaced_config_map("p", ns, [
        {"op": "replace", "path": "/data/x", "value": "10"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"}])
    check(cm.data["x"] == "10" and cm.metadata.labels == {"a": "1", "b": "2"}, "json patch")
    # Merge patch: the dynamic client names the content type.
    dyn = dynamic.DynamicClient(client.ApiClient(),
                                cache_file=os.path.join(os.environ["CACHE"], "patch.json"))
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    got = dyn.patch(cms, {"data": {"y": None}, "metadata": {"labels": {"a": None}}},
                    name="p", namespace=ns, content_type="application/merge-patch+json")
    check(dict(got.data) == {"x": "10"} and dict(got.metadata.labels) == {"b": "2"},
          "merge patch: %s" % got)
    e = api_error(v1.patch_namespaced_config_map, "p", ns,
                  [{"op": "test", "path": "/data/x", "value": "no"}])
    check(e.status == 422, "failed test op: %s %s" % (e.status, e.body))


def pod_owned_by(ns, name, owner):
    return v1.create_namespaced_pod(ns, client.V1Pod(
        metadata=meta(name=name, owner_references=[client.V1OwnerReference(
            api_version="apps/v1", kind="ReplicaSet", name=owner.metadata.name,
            uid=owner.metadata.uid, block_owner_deletion=True)]),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))


def replica_set(ns, name):
    return apps.create_namespaced_replica_set(ns, client.V1ReplicaSet(
        metadata=meta(name=name),
        spec=client.V1ReplicaSetSpec(
            replicas=0, selector=client.V1LabelSelector(match_labels={"rs": name}),
            template=client.V1PodTemplateSpec(
                metadata=meta(labels={"rs": name}),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="c", image="busybox")])))))


def gone(fn, *args):
    try:
        fn(*args)
        return False
    except ApiException as e:
        return e.status == 404


def wait(cond, what, secs=15):
    deadline = time.time() + secs
    while not cond():
        check(time.time() < deadline, "%s within %d s" % (what, secs))
        time.sleep(0.2)


def case_delete_propagation():
    ns = namespace("del")
    # Foreground, in the query as the client sends it: the owner waits
    # with the foregroundDeletion finalizer until the collector took its pod.
    fg = replica_set(ns, "fg")
    pod_owned_by(ns, "fg-pod", fg)
    st = json.loads(apps.delete_namespaced_replica_set(
        "fg", ns, propagation_policy="Foreground", _preload_content=False).data)
    check("foregroundDeletion" in st["metadata"].get("finalizers", []), "finalizer: %s" % st)
    wait(lambda: gone(v1.read_namespaced_pod, "fg-pod", ns), "dependent pod deleted")
    wait(lambda: gone(apps.read_namespaced_replica_set, "fg", ns), "foreground owner deleted")
    # Orphan: the owner goes, its pod stays without the reference.
    orph = replica_set(ns, "orph")
    pod_owned_by(ns, "orph-pod", orph)
    apps.delete_namespaced_replica_set("orph", ns, propagation_policy="Orphan")
    wait(lambda: gone(apps.read_namespaced_replica_set, "orph", ns), "orphaning owner deleted")
    wait(lambda: not v1.read_namespaced_pod("orph-pod", ns).metadata.owner_references,
         "reference dropped")
    # A bad integer in the query: 400 naming it.
    e = api_error(v1.delete_namespaced_pod, "orph-pod", ns, grace_period_seconds="soon")
    check(e.status == 400 and "gracePeriodSeconds" in e.body, e.body)
    v1.delete_namespaced_pod("orph-pod", ns, grace_period_seconds=0)
    wait(lambda: gone(v1.read_namespaced_pod, "orph-pod", ns), "pod deleted")


def case_dynamic_client():
    ns = namespace("dyn")
    dyn = dynamic.DynamicClient(client.ApiClient(),
                                cache_file=os.path.join(os.environ["CACHE"], "dyn.json"))
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = {"metadata": {"name": "d", "labels": {"app": "d"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    made = deps.create(body=body, namespace=ns)
    check(made.kind == "Deployment" and made.spec.replicas == 1, "created: %s" % made)
    got = deps.get(namespace=ns, label_selector="app=d")
    check([i.metadata.name for i in got.items] == ["d"], "list: %s" % got)
    # Server-side apply, the body YAML: this client version sends an
    # application/apply-patch+yaml body only as text it is given.
    applied = dyn.server_side_apply(deps, body=(
        "apiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: d\n  namespace: %s\nspec:\n  replicas: 3\n" % ns),
        name="d", namespace=ns, field_manager="py")
    check(applied.spec.replicas == 3, "applied: %s" % applied.spec)
    deps.delete(name="d", namespace=ns)
    check(gone(deps.get, "d", ns), "deleted")
    nss = dyn.resources.get(api_version="v1", kind="Namespace")
    check(nss.get(name=ns).status.phase == "Active", "namespace read")


def case_custom_resource_round_trip():
    """A CustomResourceDefinition made from the client's models, then its
    objects through CustomObjectsApi: a schema default filled in, list by
    label, a merge patch, a 422 for a schema violation, delete."""
    ext = client.ApiextensionsV1Api()
    co = client.CustomObjectsApi()
    ns = namespace("crd")
    group, plural = "py-%s.example.com" % NS.replace("py-", ""), "gadgets"
    props = client.V1JSONSchemaProps
    schema = props(type="object", properties={
        "spec": props(type="object", required=["size"], properties={
            "size": props(type="integer", minimum=1, maximum=10),
            "color": props(type="string", default="blue")})})
    crd = client.V1CustomResourceDefinition(
        metadata=meta(name="%s.%s" % (plural, group)),
        spec=client.V1CustomResourceDefinitionSpec(
            group=group, scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(plural=plural, singular="gadget",
                                                         kind="Gadget"),
            versions=[client.V1CustomResourceDefinitionVersion(
                name="v1", served=True, storage=True,
                schema=client.V1CustomResourceValidation(open_apiv3_schema=schema))]))
    ext.create_custom_resource_definition(crd)
    name = crd.metadata.name

    def established():
        st = ext.read_custom_resource_definition(name).status
        return any(c.type == "Established" and c.status == "True" for c in st.conditions or [])
    wait(established, "CRD Established")
    body = {"apiVersion": group + "/v1", "kind": "Gadget",
            "metadata": {"name": "g1", "labels": {"tier": "a"}}, "spec": {"size": 3}}
    wait(lambda: not isinstance(_try(co.create_namespaced_custom_object, group, "v1", ns,
                                     plural, body), ApiException), "first custom object created")
    got = co.get_namespaced_custom_object(group, "v1", ns, plural, "g1")
    check(got["spec"] == {"size": 3, "color": "blue"}, "the schema's default: %s" % got["spec"])
    lst = co.list_namespaced_custom_object(group, "v1", ns, plural, label_selector="tier=a")
    check([i["metadata"]["name"] for i in lst["items"]] == ["g1"], "list: %s" % lst)
    co.patch_namespaced_custom_object(group, "v1", ns, plural, "g1", {"spec": {"size": 5}})
    got = co.get_namespaced_custom_object(group, "v1", ns, plural, "g1")
    check(got["spec"]["size"] == 5, "patched: %s" % got["spec"])
    bad = dict(body, metadata={"name": "g2"}, spec={"size": 99})
    e = api_error(co.create_namespaced_custom_object, group, "v1", ns, plural, bad)
    check(e.status == 422 and "spec.size" in e.body, "422 naming spec.size: %s" % e.body)
    co.delete_namespaced_custom_object(group, "v1", ns, plural, "g1")
    check(gone(co.get_namespaced_custom_object, group, "v1", ns, plural, "g1"), "deleted")
    ext.delete_custom_resource_definition(name)
    wait(lambda: gone(ext.read_custom_resource_definition, name), "CRD deleted")


def _try(fn, *args):
    try:
        return fn(*args)
    except ApiException as e:
        return e


if __name__ == "__main__":
    # One interpreter for every case (importing the client takes seconds):
    # each case's result, "ok" or its traceback, in a file of its name.
    for name in sys.argv[2:]:
        try:
            globals()["case_" + name]()
            result = "ok\n"
        except Exception:  # the case failed: its traceback is the report
            result = traceback.format_exc()
        with open(os.path.join(sys.argv[1], name), "w") as f:
            f.write(result)
