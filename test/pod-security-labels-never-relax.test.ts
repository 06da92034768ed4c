// A namespace's pod-security.kubernetes.io labels may tighten the Tenant's pod security but never
// relax it, neither the level nor the version (an older version checks less: restricted v1.0 has no
// allowPrivilegeEscalation, seccomp or capabilities rule). Every Tenant level:version against every
// label level:version, judged by the module on probe pods that each fail at some versions only.
import t from 'tap';
import { evaluatePod, MAX_POLICY_VERSION } from '../policies/pod-security/evaluator.js';
import { podContext } from '../policies/pod-security/controls/context.js';
import { podSecurityModule } from '../policies/pod-security/module.js';
import type { ClusterView, KubeObject, ModuleResult, PodSecurityLevel, PolicyInput } from '../policies/types.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { createRequest, NAMESPACE } from './fixtures/pod-security/load.js';

const IMAGE = 'registry.example/app:1.0';
type Tweak = (pod: { spec: Record<string, any> }) => void;

/** A restricted-compliant Pod changed by one tweak. */
function probe(name: string, tweak: Tweak): KubeObject {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } as Record<string, any>,
      containers: [
        { name: 'app', image: IMAGE, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } as Record<string, any> },
      ],
    },
  };
  tweak(pod);
  return pod;
}

const PROBES: KubeObject[] = [
  probe('compliant', () => {}),
  probe('privilege-escalation', (p) => (p.spec.containers[0].securityContext.allowPrivilegeEscalation = true)),
  probe('seccomp-unconfined', (p) => (p.spec.securityContext.seccompProfile = { type: 'Unconfined' })),
  probe('capability-added', (p) => (p.spec.containers[0].securityContext.capabilities.add = ['CHOWN'])),
  probe('run-as-root', (p) => (p.spec.securityContext.runAsUser = 0)),
  probe('probe-host', (p) => (p.spec.containers[0].livenessProbe = { tcpSocket: { host: '10.0.0.1', port: 80 } })),
  probe('sysctls-v1.37', (p) => (p.spec.securityContext.sysctls = [{ name: 'net.ipv4.tcp_notsent_lowat', value: '16384' }])),
  probe('privileged', (p) => (p.spec.containers[0].securityContext = { privileged: true })),
];

const LEVELS: PodSecurityLevel[] = ['privileged', 'baseline', 'restricted'];
const RANK: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };
/** Every policy version PSA defines, one past the newest, and latest. */
const VERSIONS: Array<{ text: string; minor: number }> = [
  ...Array.from({ length: MAX_POLICY_VERSION + 2 }, (_, minor) => ({ text: `v1.${minor}`, minor })),
  { text: 'latest', minor: Infinity },
];

function review(tenantLevel: PodSecurityLevel, tenantVersion: string, labels: Record<string, string>, pod: KubeObject): ModuleResult {
  const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels } };
  const view: ClusterView = {
    get: (kind, _ns, name) => (kind === 'Namespace' && name === NAMESPACE ? namespace : undefined),
    list: () => [],
    tenantOf: () => ({ name: 'tenant-a', spec: {}, conflicts: [] }),
  };
  const input: PolicyInput = {
    request: createRequest(pod),
    object: pod,
    oldObject: undefined,
    tenant: { name: 'tenant-a', spec: { podSecurity: { level: tenantLevel, mode: 'enforce', version: tenantVersion } }, conflicts: [] },
    view,
    settings: { kubevirtServiceAccounts: [] },
    ledger: new MemoryLedger(new SnapshotView({})),
  };
  return podSecurityModule.evaluate(input) as ModuleResult;
}

const denied = (r: ModuleResult) => (r.findings ?? []).some((f) => f.mode === 'enforce');

function violates(level: PodSecurityLevel, minor: number, pod: KubeObject): boolean {
  if (level === 'privileged') return false;
  return evaluatePod(level, minor, podContext(pod.metadata!, pod.spec as never)).length > 0;
}

t.test('at every level:version, a label that relaxes is refused and one that tightens applies', async (t) => {
  const mismatches: string[] = [];
  let relaxingRefused = 0;
  let tighteningApplied = 0;
  for (const tenantLevel of LEVELS) {
    for (const tv of VERSIONS) {
      for (const labelLevel of LEVELS) {
        for (const lv of VERSIONS) {
          const labels = { 'pod-security.kubernetes.io/enforce': labelLevel, 'pod-security.kubernetes.io/enforce-version': lv.text };
          for (const pod of PROBES) {
            const got = denied(review(tenantLevel, tv.text, labels, pod));
            const tenantDenies = violates(tenantLevel, tv.minor, pod);
            const labelDenies = violates(labelLevel, lv.minor, pod);
            // The Tenant's level:version stays in force and the label's applies too.
            const want = tenantDenies || labelDenies;
            const combo = `Tenant ${tenantLevel}:${tv.text}, label ${labelLevel}:${lv.text}, pod ${pod.metadata!.name}`;
            if (got !== want) mismatches.push(`${combo}: ${got ? 'denied' : 'admitted'}, want ${want ? 'denied' : 'admitted'}`);
            if (tenantDenies && !labelDenies) relaxingRefused++;
            if (labelDenies && !tenantDenies) tighteningApplied++;
          }
        }
      }
    }
  }
  t.same(mismatches.slice(0, 20), [], `${mismatches.length} combinations judged wrongly`);
  // The probes do tell the cases apart: many combinations have a label that alone would admit a
  // pod the Tenant denies, and many where the label alone denies a pod the Tenant admits.
  t.ok(relaxingRefused > 1000, `${relaxingRefused} label/pod combinations where the label would relax`);
  t.ok(tighteningApplied > 1000, `${tighteningApplied} label/pod combinations where the label tightens`);
});

t.test('enforce-version v1.0 under a restricted Tenant: escalation, Unconfined seccomp and added capabilities stay denied', async (t) => {
  const labels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.0' };
  for (const name of ['privilege-escalation', 'seccomp-unconfined', 'capability-added']) {
    const result = review('restricted', 'latest', labels, PROBES.find((p) => p.metadata!.name === name)!);
    t.ok(denied(result), `${name} denied`);
    t.equal(result.annotation, 'enforce=restricted:latest+restricted:v1.0', 'the annotation shows both in force');
  }
});

t.test('a label at the Tenant version: the higher level alone is in force', async (t) => {
  const escalation = PROBES.find((p) => p.metadata!.name === 'privilege-escalation')!;
  const raised = review('baseline', 'v1.30', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.30' }, escalation);
  t.ok(denied(raised));
  t.equal(raised.annotation, 'enforce=restricted:v1.30');
  const lowered = review('restricted', 'latest', { 'pod-security.kubernetes.io/enforce': 'privileged' }, escalation);
  t.ok(denied(lowered));
  t.equal(lowered.annotation, 'enforce=restricted:latest');
  const pastNewest = review('restricted', 'latest', { 'pod-security.kubernetes.io/enforce-version': 'v1.99' }, escalation);
  t.equal(pastNewest.annotation, 'enforce=restricted:latest', 'a pin past the newest version is latest');
});

t.test('modes the Tenant does not set follow the labels alone, as PSA', async (t) => {
  const labels = { 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/warn-version': 'v1.7' };
  const result = review('baseline', 'latest', labels, PROBES.find((p) => p.metadata!.name === 'privilege-escalation')!);
  t.notOk(denied(result));
  t.same(result.findings ?? [], [], 'restricted v1.7 predates the allowPrivilegeEscalation rule');
});
