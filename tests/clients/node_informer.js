// The case of test_node_client.sh: @kubernetes/client-node's list-watch
// informer over a namespace's ConfigMaps sees an add, an update and a
// delete made through the same client (objects without apiVersion or
// kind, as its callers write them). Usage: node node_informer.js, with
// KUBECONFIG, NS (a namespace to create) and NODE_PATH (where the package
// is installed) in the environment. Prints the events; exits 1 on a
// failure or when they do not arrive in 20 s.
'use strict';
const k8s = require('@kubernetes/client-node');

const ns = process.env.NS;
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG);
const core = kc.makeApiClient(k8s.CoreV1Api);
const want = ['add c1 1', 'update c1 2', 'delete c1 2'];
const seen = [];

function fail(why) {
	console.error('node_informer: ' + why);
	process.exit(1);
}

async function main() {
	setTimeout(() => fail('events seen: ' + JSON.stringify(seen) + ', wanted ' +
			      JSON.stringify(want)), 20000).unref();
	await core.createNamespace({ body: { metadata: { name: ns } } });
	const inf = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`,
				     () => core.listNamespacedConfigMap({ namespace: ns }));
	let done;
	const finished = new Promise((resolve) => { done = resolve; });
	for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE]) {
		inf.on(verb, (obj) => {
			seen.push(`${verb} ${obj.metadata.name} ${(obj.data || {}).v}`);
			console.log(seen[seen.length - 1]);
			if (seen.length === want.length)
				done();
		});
	}
	let stopping = false; // stop() aborts the watch, reported as an error
	inf.on(k8s.ERROR, (err) => stopping || fail('informer error: ' + (err && err.message || err)));
	await inf.start();
	await core.createNamespacedConfigMap({ namespace: ns,
					       body: { metadata: { name: 'c1' }, data: { v: '1' } } });
	const cm = await core.readNamespacedConfigMap({ name: 'c1', namespace: ns });
	cm.data.v = '2';
	await core.replaceNamespacedConfigMap({ name: 'c1', namespace: ns, body: cm });
	await core.deleteNamespacedConfigMap({ name: 'c1', namespace: ns });
	await finished;
	stopping = true;
	await inf.stop();
	if (JSON.stringify(seen) !== JSON.stringify(want))
		fail('events ' + JSON.stringify(seen) + ', wanted ' + JSON.stringify(want));
	process.exit(0);
}

main().catch((e) => fail((e && (e.body ? JSON.stringify(e.body) : e.stack)) || String(e)));
