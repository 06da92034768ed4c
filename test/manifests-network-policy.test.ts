// The NetworkPolicy in front of tenantguard (SPEC 3): it selects the Deployment's pods, opens only
// the webhook and metrics ports, the metrics port only to the monitoring namespace, and an operator
// narrows the webhook port's source with the kustomize patch the README shows.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { kustomize } from '../manifests/render.js';
import { selectorMatches } from '../policies/kube/label-selector.js';
import type { KubeObject } from '../policies/types.js';
import { findNamed, kustomizeBuild, MANIFESTS_DIR, parseDocs } from './helpers/manifests.js';

type Peer = { ipBlock?: { cidr: string }; namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: unknown };
type Rule = { from: Peer[]; ports: Array<{ port: string | number; protocol: string }> };

const built = kustomizeBuild('base');

/** The container port a NetworkPolicy port (name or number) refers to on the pod template. */
function containerPort(deployment: KubeObject, port: string | number): { name: string; containerPort: number } | undefined {
  const ports = deployment.spec.template.spec.containers.flatMap((c: { ports: Array<{ name: string; containerPort: number }> }) => c.ports);
  return ports.find((p: { name: string; containerPort: number }) => p.name === port || p.containerPort === port);
}

t.test('it selects the tenantguard pods and only them', async (t) => {
  const docs = await built;
  const policy = findNamed(docs, 'NetworkPolicy', 'tenantguard');
  const deployment = findNamed(docs, 'Deployment', 'tenantguard');
  t.equal(policy.metadata?.namespace, deployment.metadata?.namespace, 'in the Deployment namespace');
  t.ok(selectorMatches(policy.spec.podSelector, deployment.spec.template.metadata.labels), 'the pod template matches');
  t.notOk(selectorMatches(policy.spec.podSelector, { app: 'something-else' }), 'other pods do not');
  t.same(policy.spec.policyTypes, ['Ingress'], 'ingress only: egress to the apiserver stays open');
});

t.test('the webhook port (from the apiserver) and the metrics port (from monitoring), nothing else', async (t) => {
  const docs = await built;
  const policy = findNamed(docs, 'NetworkPolicy', 'tenantguard');
  const deployment = findNamed(docs, 'Deployment', 'tenantguard');
  const service = findNamed(docs, 'Service', 'tenantguard');
  const [webhook, metrics] = policy.spec.ingress as Rule[];
  t.equal((policy.spec.ingress as Rule[]).length, 2);
  const webhookPort = containerPort(deployment, webhook!.ports[0]!.port)!;
  const servicePort = (service.spec.ports as Array<{ name: string; targetPort: string }>).find((p) => p.name === 'https')!;
  t.equal(webhookPort.name, servicePort.targetPort, 'the port the Service sends the apiserver to');
  t.same(webhook!.ports.map((p) => p.protocol), ['TCP']);
  t.equal(containerPort(deployment, metrics!.ports[0]!.port)!.containerPort, 9090, 'the metrics port');
  t.same(metrics!.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], 'only from the monitoring namespace');
  const opened = (policy.spec.ingress as Rule[]).flatMap((r) => r.ports.map((p) => containerPort(deployment, p.port)!.containerPort)).sort();
  const all = deployment.spec.template.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort).sort();
  t.same(opened, all, 'every port the pod listens on is listed, each with its sources');
});

t.test('the README patch narrows the webhook port to the apiserver addresses', async (t) => {
  const dir = await mkdtemp(join(MANIFESTS_DIR, '../.tap-kustomize-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'kustomization.yaml'), `resources: [${relative(dir, join(MANIFESTS_DIR, 'base'))}]
patches:
  - target: {kind: NetworkPolicy, name: tenantguard}
    patch: |
      - op: replace
        path: /spec/ingress/0/from
        value: [{ipBlock: {cidr: 10.0.0.0/24}}, {ipBlock: {cidr: 172.18.0.0/16}}]
`);
  const policy = findNamed(parseDocs(await kustomize(dir), 'patched'), 'NetworkPolicy', 'tenantguard');
  const [webhook, metrics] = policy.spec.ingress as Rule[];
  t.same(webhook!.from, [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '172.18.0.0/16' } }]);
  t.same(webhook!.ports, [{ port: 'https', protocol: 'TCP' }], 'the port is kept');
  t.same(metrics!.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], 'the metrics rule is untouched');
});
