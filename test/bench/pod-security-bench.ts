// In-process cost of pod-security and secure-defaults per review of a typical Pod (three
// containers: app, sidecar, init), p50/p99 over many iterations after a warm-up. A smoke, not an
// assertion (SPEC 12: target p99 < 100 µs per review).
//   node --import=tsx test/bench/pod-security-bench.ts [iterations]
import { pathToFileURL } from 'node:url';
import { PolicyEngine } from '../../policies/engine.js';
import { podSecurityModule } from '../../policies/pod-security/module.js';
import { secureDefaultsModule } from '../../policies/secure-defaults.js';
import type { AdmissionRequest, KubeObject, PolicyInput, PolicyModule } from '../../policies/types.js';
import { MemoryLedger } from '../../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { measureAsync, measureSync, printTable, type BenchRow } from './measure.js';

const restrictedContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

function typicalPod(secure: boolean): KubeObject {
  const sc = secure ? restrictedContext : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-7d9f8', namespace: 'team-a', labels: { app: 'web' }, annotations: { 'prometheus.io/scrape': 'true' } },
    spec: {
      ...(secure ? { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } } : {}),
      initContainers: [{ name: 'migrate', image: 'registry.example/migrate:1.4', securityContext: sc }],
      containers: [
        {
          name: 'app',
          image: 'registry.example/web:2.3',
          ports: [{ containerPort: 8080 }],
          livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
          resources: { requests: { cpu: '250m', memory: '256Mi' } },
          volumeMounts: [{ name: 'config', mountPath: '/etc/web' }],
          securityContext: sc,
        },
        { name: 'proxy', image: 'registry.example/proxy:1.9', ports: [{ containerPort: 9090 }], securityContext: sc },
      ],
      volumes: [{ name: 'config', configMap: { name: 'web' } }, { name: 'cache', emptyDir: {} }],
    },
  };
}

function request(object: KubeObject): AdmissionRequest {
  return {
    uid: 'bench',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
  };
}

function viewWith(labels: Record<string, string>): SnapshotView {
  const view = new SnapshotView({});
  view.add({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels } });
  view.add({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'tenant-a' },
    spec: {
      namespaces: ['team-a'],
      podSecurity: { level: 'restricted', mode: 'enforce' },
      defaults: { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false },
    },
  });
  return view;
}

function inputFor(view: SnapshotView, object: KubeObject): PolicyInput {
  const req = request(object);
  return {
    request: req,
    object,
    oldObject: undefined,
    tenant: view.tenantOf('team-a'),
    view,
    settings: { kubevirtServiceAccounts: ['system:serviceaccount:kubevirt:kubevirt-controller'] },
    ledger: new MemoryLedger(view),
  };
}

export async function runPodSecurityBench(iterations = 20_000): Promise<BenchRow[]> {
  const tenantOnly = viewWith({});
  const labelled = viewWith({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/audit': 'baseline' });
  const secure = typicalPod(true);
  const insecure = typicalPod(false);
  const evaluate = (module: PolicyModule, input: PolicyInput) => () => module.evaluate(input);
  const rows = [
    measureSync('pod-security, compliant pod, tenant restricted', iterations, evaluate(podSecurityModule, inputFor(tenantOnly, secure))),
    measureSync('pod-security, violating pod (4 controls)', iterations, evaluate(podSecurityModule, inputFor(tenantOnly, insecure))),
    measureSync('pod-security, PSA labels (3 modes, 2 levels)', iterations, evaluate(podSecurityModule, inputFor(labelled, secure))),
    measureSync('secure-defaults, pod needing every default', iterations, evaluate(secureDefaultsModule, inputFor(tenantOnly, insecure))),
    measureSync('secure-defaults, pod already secure', iterations, evaluate(secureDefaultsModule, inputFor(tenantOnly, secure))),
  ];
  const engine = new PolicyEngine(
    [secureDefaultsModule, podSecurityModule],
    { exemptions: { namespaces: [], usernames: [], groups: [] }, modules: {}, settings: { kubevirtServiceAccounts: [] } },
    { view: tenantOnly, ledger: new MemoryLedger(tenantOnly) },
  );
  rows.push(await measureAsync('engine.review both, pod needing every default', iterations, () => engine.review(request(insecure), 'both')));
  rows.push(await measureAsync('engine.review both, pod already secure', iterations, () => engine.review(request(secure), 'both')));
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const iterations = Number(process.argv[2] ?? 20_000);
  printTable(await runPodSecurityBench(iterations));
}
