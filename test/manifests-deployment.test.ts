// tenantguard's own Deployment: what it runs with (ports, probes, certificate and config paths,
// shutdown timing) agrees with the Service, the ConfigMap, the image and the server config loader;
// it stays available through disruptions; and it passes the restricted Pod Security Standard as
// tenantguard's own pod-security policy judges it.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import t from 'tap';
import { PolicyEngine, type EngineConfig } from '../policies/engine.js';
import { selectorMatches } from '../policies/kube/label-selector.js';
import { parseMilli, parseUnits } from '../policies/kube/quantity.js';
import { MODULES } from '../policies/registry.js';
import type { AdmissionRequest, KubeObject } from '../policies/types.js';
import { MemoryLedger } from '../server/quota-ledger/memory-ledger.js';
import { SnapshotView } from '../server/cluster/snapshot-view.js';
import { DEFAULT_CONFIG, type ServerConfig } from '../server/config.js';
import { buildConfig, parseConfigText } from '../server/config-load.js';
import { MANIFESTS_DIR, readOne } from './helpers/manifests.js';

const deployment = readOne('base/deployment.yaml');
const service = readOne('base/service.yaml');
const pdb = readOne('base/pdb.yaml');
const configMap = readOne('base/config.yaml');
const configData = configMap.data as Record<string, string>;
const namespace = readOne('base/namespace.yaml');
const podSpec = deployment.spec.template.spec;
const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
const [container] = podSpec.containers;

function loadedConfig(): ServerConfig {
  const parsed = parseConfigText(configData['config.yaml']!, 'config.yaml');
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const built = buildConfig(parsed.value, {});
  if (!built.ok) throw new Error(built.errors.join('; '));
  return built.config;
}

function containerPort(name: string): number {
  const port = (container.ports as Array<{ name: string; containerPort: number }>).find((p) => p.name === name);
  if (!port) throw new Error(`no container port ${name}`);
  return port.containerPort;
}

function mountOf(path: string): { name: string; mountPath: string; subPath?: string } | undefined {
  return (container.volumeMounts as Array<{ name: string; mountPath: string; subPath?: string }>).find((m) => posix.dirname(path) === m.mountPath);
}

function volume(name: string): Record<string, any> {
  return (podSpec.volumes as Array<Record<string, any>>).find((v) => v.name === name)!;
}

t.test('the ConfigMap holds a server config the loader accepts, for this namespace', async (t) => {
  const config = loadedConfig();
  t.equal(config.namespace, namespace.metadata?.name);
  t.equal(config.listen.port, containerPort('https'), 'serves HTTPS on the container port');
  t.equal(config.metrics.port, containerPort('metrics'), 'serves metrics on the container port');
  t.same(Object.keys(config.modules).sort(), Object.keys(DEFAULT_CONFIG.modules).sort(), 'configures every module');
});

t.test('the config file is where its volume puts it, reloadable in place; the certificate needs no Secret to start', async (t) => {
  const config = loadedConfig();
  const args: string[] = container.args;
  const configFile = args[args.indexOf('--config') + 1]!;
  const configMount = mountOf(configFile);
  t.equal(volume(configMount!.name).configMap.name, configMap.metadata?.name, '--config is in the ConfigMap volume');
  t.ok(posix.basename(configFile) in configData, 'and names one of its keys');
  for (const m of container.volumeMounts) t.equal(m.subPath, undefined, `${m.mountPath}: no subPath (subPath mounts never see updates)`);
  // The base manages its own certificate through the API: no Secret volume the pod would wait for.
  t.equal(config.certificates.selfManage, true, 'the base install renews its own certificate');
  t.same(podSpec.volumes.filter((v: { secret?: unknown }) => v.secret !== undefined), [], 'no Secret volume: the pod starts on a fresh install');
  t.same(container.env.find((e: { name: string }) => e.name === 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } }, 'the Lease holder is the pod');
});

t.test('probes, Service and webhook port agree', async (t) => {
  const ports = service.spec.ports as Array<{ name: string; port: number; targetPort: string }>;
  t.same(ports.map((p) => [p.name, p.port, containerPort(p.targetPort)]), [
    ['https', 443, 8443],
    ['metrics', 9090, 9090],
  ]);
  t.same([container.livenessProbe.httpGet, container.readinessProbe.httpGet], [
    { path: '/healthz', port: 'https', scheme: 'HTTPS' },
    { path: '/readyz', port: 'https', scheme: 'HTTPS' },
  ]);
  t.ok(selectorMatches({ matchLabels: service.spec.selector }, podLabels), 'the Service selects the pods');
});

t.test('it stays available: two replicas apart, a PodDisruptionBudget, surge-first rollouts', async (t) => {
  t.ok(deployment.spec.replicas >= 2, 'two or more replicas');
  t.ok(selectorMatches(deployment.spec.selector, podLabels), 'the Deployment selects its pods');
  const [term] = podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  t.equal(term.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  t.ok(selectorMatches(term.podAffinityTerm.labelSelector, podLabels), 'anti-affinity keeps replicas off one node');
  t.ok(selectorMatches(pdb.spec.selector, podLabels), 'the PodDisruptionBudget covers the pods');
  t.equal(pdb.spec.minAvailable, 1);
  t.ok(pdb.spec.minAvailable < deployment.spec.replicas, 'a node drain can still proceed');
  t.same(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  t.equal(podSpec.priorityClassName, undefined, 'system-cluster-critical is only admitted in kube-system');
});

t.test('termination leaves time to drain: preStop sleep, then the server shutdown grace, within the grace period', async (t) => {
  const preStop = container.lifecycle.preStop.sleep.seconds;
  t.ok(preStop >= 3, 'endpoints have a few seconds to drop the pod');
  t.ok(podSpec.terminationGracePeriodSeconds > preStop + loadedConfig().shutdownGraceMs / 1000, 'not killed mid-shutdown');
});

t.test('resources: requests and limits, and a V8 heap below the memory limit', async (t) => {
  const { requests, limits } = container.resources;
  for (const r of ['cpu', 'memory']) t.ok(requests[r] && limits[r], `${r} request and limit`);
  t.ok(parseMilli(requests.cpu) <= parseMilli(limits.cpu), 'cpu request within limit');
  t.ok(parseUnits(requests.memory) <= parseUnits(limits.memory), 'memory request within limit');
  const nodeOptions = (container.env as Array<{ name: string; value: string }>).find((e) => e.name === 'NODE_OPTIONS')!.value;
  const oldMiB = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions)![1]);
  // V8's young generation is three semi-spaces (two for scavenging, one for large objects); 16 MiB each by default.
  const semiMiB = Number(/--max-semi-space-size=(\d+)/.exec(nodeOptions)?.[1] ?? 16);
  t.ok((oldMiB + 3 * semiMiB) * 2 ** 20 < parseUnits(limits.memory) * 0.8, 'heap plus native memory fit the limit');
});

t.test('the image and the pod agree on the user and the ports', async (t) => {
  const dockerfile = readFileSync(join(MANIFESTS_DIR, '..', 'Dockerfile'), 'utf8');
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile)!;
  t.equal(podSpec.securityContext.runAsUser, Number(user[1]));
  t.equal(podSpec.securityContext.runAsGroup, Number(user[2]));
  t.same(/^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(' ').map(Number), [containerPort('https'), containerPort('metrics')]);
  t.equal(container.image, `tenantguard:${JSON.parse(readFileSync(join(MANIFESTS_DIR, '..', 'package.json'), 'utf8')).version}`);
});

// ---- pod security, judged by tenantguard itself ----

const engineConfig: EngineConfig = {
  // Nothing exempt: as installed, tenantguard's own namespace is exempt and would prove nothing.
  exemptions: { namespaces: [], usernames: [], groups: [] },
  modules: DEFAULT_CONFIG.modules,
  settings: { kubevirtServiceAccounts: DEFAULT_CONFIG.kubevirt.serviceAccounts },
};

function engine(): PolicyEngine {
  const view = new SnapshotView(DEFAULT_CONFIG.defaultTenant);
  view.add(structuredClone(namespace));
  view.add({
    apiVersion: 'tenantguard.io/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'platform' },
    spec: {
      namespaces: [namespace.metadata!.name!],
      podSecurity: { level: 'restricted', mode: 'enforce' },
      defaults: { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false },
      networkPolicy: { mode: 'off' },
    },
  });
  return new PolicyEngine([...MODULES], engineConfig, { view, ledger: new MemoryLedger(view) });
}

function review(object: KubeObject, kind: AdmissionRequest['kind'], resource: string, user: string): AdmissionRequest {
  return {
    uid: `manifests-${kind.kind}`,
    kind,
    resource: { group: kind.group, version: kind.version, resource },
    namespace: namespace.metadata!.name!,
    name: object.metadata?.name,
    operation: 'CREATE',
    userInfo: { username: user },
    object,
  };
}

/** The Pod the Deployment's ReplicaSet creates. */
function podOf(d: KubeObject): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'tenantguard-5d8f9c7b6-x2k4q', namespace: d.metadata?.namespace, labels: d.spec.template.metadata.labels },
    spec: structuredClone(d.spec.template.spec),
  };
}

/** The findings of a module that must have run. */
function policyFindings(decision: { modules: Array<{ module: string; findings: unknown[] }> }, name: string): unknown[] {
  const ran = decision.modules.filter((m) => m.module === name);
  if (ran.length === 0) throw new Error(`${name} did not run`);
  return ran.flatMap((m) => m.findings);
}

t.test('tenantguard runs pod-security and secure-defaults (the checks below need them)', async (t) => {
  const names = MODULES.map((m) => m.name);
  t.ok(names.includes('pod-security'), 'pod-security is registered');
  t.ok(names.includes('secure-defaults'), 'secure-defaults is registered');
});

t.test('the Deployment, created in a restricted/enforce tenant, raises no pod-security finding and needs no defaults', async (t) => {
  const decision = await engine().review(review(deployment, { group: 'apps', version: 'v1', kind: 'Deployment' }, 'deployments', 'kubernetes-admin'), 'both');
  t.equal(decision.allowed, true, decision.status?.message ?? 'allowed');
  t.same(policyFindings(decision, 'pod-security'), []);
  t.same(decision.warnings.filter((w) => w.includes('pod-security')), [], 'no pod-security warning');
  t.equal(decision.patch, undefined, 'secure-defaults finds every default already set');
});

t.test('the Pod it creates is admitted at restricted/enforce', async (t) => {
  const decision = await engine().review(
    review(podOf(deployment), { group: '', version: 'v1', kind: 'Pod' }, 'pods', 'system:serviceaccount:kube-system:replicaset-controller'),
    'validate',
  );
  t.equal(decision.allowed, true, decision.status?.message ?? 'allowed');
  t.same(policyFindings(decision, 'pod-security'), []);
});

t.test('control: the same Pod without its container hardening is denied', async (t) => {
  const weakened = podOf(deployment);
  delete weakened.spec.containers[0].securityContext;
  const decision = await engine().review(review(weakened, { group: '', version: 'v1', kind: 'Pod' }, 'pods', 'alice'), 'validate');
  t.equal(decision.allowed, false);
  t.match(decision.status?.message, /allowPrivilegeEscalation/);
});
