// secure-defaults on UPDATE of a pod-template owner: an update that leaves the template as it was
// (labels, replicas, annotations of the owner) yields no patch, so no pod is replaced; one that
// changes the template yields exactly the patch a CREATE of the new object gets. Pods are never
// mutated on UPDATE (the API server refuses changes to their security settings).
import t from 'tap';
import type { Decision } from '../policies/engine.js';
import { secureDefaultsModule } from '../policies/secure-defaults.js';
import type { AdmissionRequest, KubeObject, TenantSpec } from '../policies/types.js';
import { engineWith } from './fixtures/pod-security/engine.js';
import { createRequest } from './fixtures/pod-security/load.js';

const IMAGE = 'registry.example/app:1.0';
const DEFAULTS: NonNullable<TenantSpec['defaults']> = { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false };

const template = () => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: IMAGE }] } });

/** One owner of each kind that carries a pod template, with the template where the kind keeps it. */
const OWNERS: Array<{ kind: string; apiVersion: string; make: () => KubeObject; templateOf: (o: KubeObject) => any }> = [
  { kind: 'Deployment', apiVersion: 'apps/v1', make: () => ({ spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: template() } }), templateOf: (o) => o.spec.template },
  { kind: 'ReplicaSet', apiVersion: 'apps/v1', make: () => ({ spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: template() } }), templateOf: (o) => o.spec.template },
  { kind: 'StatefulSet', apiVersion: 'apps/v1', make: () => ({ spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: template() } }), templateOf: (o) => o.spec.template },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', make: () => ({ spec: { selector: { matchLabels: { app: 'web' } }, template: template() } }), templateOf: (o) => o.spec.template },
  { kind: 'Job', apiVersion: 'batch/v1', make: () => ({ spec: { template: template() } }), templateOf: (o) => o.spec.template },
  { kind: 'CronJob', apiVersion: 'batch/v1', make: () => ({ spec: { schedule: '@daily', jobTemplate: { spec: { template: template() } } } }), templateOf: (o) => o.spec.jobTemplate.spec.template },
];

function owner(kind: string, apiVersion: string, body: KubeObject): KubeObject {
  return { apiVersion, kind, metadata: { name: 'web', namespace: 'team-a', labels: { team: 'a' } }, ...body };
}

function update(object: KubeObject, oldObject: KubeObject): AdmissionRequest {
  return { ...createRequest(object), operation: 'UPDATE', oldObject };
}

const mutate = (request: AdmissionRequest): Promise<Decision> => engineWith([secureDefaultsModule], { tenant: { defaults: DEFAULTS } }).review(request, 'mutate');

for (const { kind, apiVersion, make, templateOf } of OWNERS) {
  t.test(`${kind}: an UPDATE that leaves the template alone yields no patch`, async (t) => {
    const old = owner(kind, apiVersion, make());
    t.ok((await mutate(createRequest(old))).patch, 'the same template is filled on CREATE');
    const relabelled = structuredClone(old);
    relabelled.metadata!.labels = { team: 'a', release: 'canary' };
    relabelled.metadata!.annotations = { 'example.com/owner': 'alice' };
    const d = await mutate(update(relabelled, old));
    t.equal(d.patch, undefined, 'label and annotation change');
    if (relabelled.spec.replicas !== undefined) {
      const scaled = structuredClone(old);
      scaled.spec.replicas = 5;
      t.equal((await mutate(update(scaled, old))).patch, undefined, 'replicas change');
    }
  });

  t.test(`${kind}: an UPDATE that changes the template yields exactly the defaults' patch`, async (t) => {
    const old = owner(kind, apiVersion, make());
    for (const [what, change] of [
      ['image', (o: KubeObject) => (templateOf(o).spec.containers[0].image = 'registry.example/app:2.0')],
      ['template label', (o: KubeObject) => (templateOf(o).metadata.labels.version = '2')],
      ['added container', (o: KubeObject) => templateOf(o).spec.containers.push({ name: 'sidecar', image: IMAGE })],
    ] as const) {
      const changed = structuredClone(old);
      change(changed);
      const onUpdate = await mutate(update(changed, old));
      const onCreate = await mutate(createRequest(changed));
      t.ok(onUpdate.patch && onUpdate.patch.length > 0, `${what}: a patch`);
      t.same(onUpdate.patch, onCreate.patch, `${what}: the same patch a CREATE of the new object gets`);
    }
  });
}

t.test('a template that already has the defaults yields no patch even when it changes', async (t) => {
  const old = owner('Deployment', 'apps/v1', OWNERS[0]!.make());
  const filled = (await mutate(createRequest(old))).patchedObject!;
  const changed = structuredClone(filled);
  changed.spec.template.spec.containers[0].image = 'registry.example/app:2.0';
  t.equal((await mutate(update(changed, filled))).patch, undefined);
});

t.test('a Pod UPDATE is never mutated, even when its spec lacks the defaults', async (t) => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: IMAGE }] } };
  const newer = structuredClone(pod);
  newer.spec.containers[0].image = 'registry.example/app:2.0';
  t.equal((await mutate(update(newer, pod))).patch, undefined, 'an image change (the one container field a pod update may change)');
  newer.metadata!.labels = { a: 'b' };
  t.equal((await mutate(update(newer, pod))).patch, undefined, 'a label change');
});
