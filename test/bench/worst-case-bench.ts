// The largest reviews a tenant can send or cause, per review through the whole engine (every
// module, a Tenant that enables all of them), with the size next to the time: a label-only UPDATE
// of a pod with 20,000 ephemeral containers, pods with 10,000 containers or 10,000 labels, and
// the DELETE of a NetworkPolicy among 2,000 in a namespace with 300 pods. A smoke, not an
// assertion; the tests hold the budgets.
//   node --import=tsx test/bench/worst-case-bench.ts [iterations]
import { pathToFileURL } from 'node:url';
import { PolicyEngine } from '../../policies/engine.js';
import { MODULES } from '../../policies/registry.js';
import type { AdmissionRequest, KubeObject } from '../../policies/types.js';
import { MemoryLedger } from '../../server/cluster/memory-ledger.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { crowdedNamespace } from '../fixtures/network-policy/crowded-namespace.js';
import { measureAsync, printTable, type BenchRow } from './measure.js';

const NAMESPACE = 'team-a';
const SECURE_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

function podWith(containers: number, ephemeral: number, labels: number): KubeObject {
  const podLabels: Record<string, string> = { app: 'big' };
  for (let i = 0; i < labels; i++) podLabels[`example.com/label-${i}`] = `value-${i}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'big', namespace: NAMESPACE, uid: 'big-uid', labels: podLabels },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'registry.example/app:1.0', securityContext: SECURE_CONTAINER })),
      ...(ephemeral > 0
        ? { ephemeralContainers: Array.from({ length: ephemeral }, (_, i) => ({ name: `debug-${i}`, image: 'registry.example/debug:1.0', securityContext: SECURE_CONTAINER })) }
        : {}),
    },
  };
}

/** A pod needing every default in each container: the mutators' worst case. */
function insecurePodWith(containers: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'big', namespace: NAMESPACE, labels: { app: 'big' } },
    spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'registry.example/app:1.0' })) },
  };
}

function review(operation: AdmissionRequest['operation'], kind: string, object: KubeObject | undefined, oldObject?: KubeObject): AdmissionRequest {
  const group = kind === 'NetworkPolicy' ? 'networking.k8s.io' : '';
  return {
    uid: 'bench',
    kind: { group, version: 'v1', kind },
    resource: { group, version: 'v1', resource: kind === 'Pod' ? 'pods' : 'networkpolicies' },
    namespace: NAMESPACE,
    name: (object ?? oldObject)?.metadata?.name,
    operation,
    userInfo: { username: 'alice' },
    ...(object ? { object } : {}),
    ...(oldObject ? { oldObject } : {}),
  };
}

function engineOver(view: SnapshotView): PolicyEngine {
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  view.add({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: {
      namespaces: [NAMESPACE],
      podSecurity: { level: 'restricted', mode: 'enforce' },
      defaults: { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false },
      networkPolicy: { mode: 'enforce' },
      quota: { hard: { pods: '100000' } },
    },
  });
  return new PolicyEngine(
    [...MODULES],
    { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [] } },
    { view, ledger: new MemoryLedger() },
  );
}

const SELECT_ALL: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'default-deny', namespace: NAMESPACE },
  spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
};

export async function runWorstCaseBench(iterations = 30): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const run = async (name: string, engine: PolicyEngine, request: AdmissionRequest) => {
    const decision = await engine.review(request, 'both');
    if (!decision.allowed) throw new Error(`${name}: not admitted: ${decision.status?.message}`);
    rows.push(await measureAsync(name, iterations, () => engine.review(request, 'both')));
  };

  const podView = new SnapshotView({});
  podView.add(SELECT_ALL);
  const engine = engineOver(podView);

  const ephemeral = podWith(1, 20_000, 1);
  const relabelled = { ...ephemeral, metadata: { ...ephemeral.metadata, labels: { app: 'big', release: 'b' } } };
  await run('UPDATE labels only, 20,000 ephemeral containers', engine, review('UPDATE', 'Pod', relabelled, ephemeral));
  await run('CREATE, 10,000 containers (compliant)', engine, review('CREATE', 'Pod', podWith(10_000, 0, 1)));
  await run('CREATE, 10,000 containers (every default to fill)', engine, review('CREATE', 'Pod', insecurePodWith(10_000)));
  await run('CREATE, 10,000 labels', engine, review('CREATE', 'Pod', podWith(1, 0, 10_000)));

  for (const adversarial of [false, true]) {
    const npView = new SnapshotView({});
    const crowded = crowdedNamespace(NAMESPACE, 2_000, 300, adversarial);
    for (const o of [...crowded.policies, ...crowded.pods]) npView.add(o);
    const name = `DELETE NetworkPolicy, 2,000 policies x 300 pods${adversarial ? ', adversarial selectors' : ''}`;
    await run(name, engineOver(npView), review('DELETE', 'NetworkPolicy', undefined, crowded.selectAll));
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await runWorstCaseBench(Number(process.argv[2] ?? 30)));
}
