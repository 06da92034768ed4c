// secure-defaults: fills the tenant's defaults only where unset, never overrides, respects the API's
// validation rules, is idempotent, patches pod templates under their own path, and makes every Pod
// that asks for nothing restricted forbids pass restricted.
import t from 'tap';
import fjp from 'fast-json-patch';
import type { Decision } from '../policies/engine.js';
import { podSecurityModule } from '../policies/pod-security/module.js';
import { escapePointerSegment } from '../policies/pod-security/pod-spec.js';
import { secureDefaultsModule } from '../policies/secure-defaults.js';
import type { AdmissionRequest, KubeObject, TenantSpec } from '../policies/types.js';
import { engineWith, KUBEVIRT_CONTROLLER } from './fixtures/pod-security/engine.js';
import { createRequest, loadFixtures } from './fixtures/pod-security/load.js';

const IMAGE = 'registry.example/app:1.0';
const ALL_DEFAULTS: NonNullable<TenantSpec['defaults']> = {
  seccomp: true,
  runAsNonRoot: true,
  dropAllCapabilities: true,
  allowPrivilegeEscalation: false,
  seLinuxLevel: 's0:c123,c456',
};
const RESTRICTED_WITH_DEFAULTS: TenantSpec = { podSecurity: { level: 'restricted', mode: 'enforce' }, defaults: ALL_DEFAULTS };

const bare = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'bare', namespace: 'team-a' },
  spec: {
    initContainers: [{ name: 'init', image: IMAGE }],
    containers: [{ name: 'app', image: IMAGE }, { name: 'sidecar', image: IMAGE }],
  },
});

async function mutate(request: AdmissionRequest, defaults: TenantSpec['defaults'] = ALL_DEFAULTS, objects: KubeObject[] = []): Promise<Decision> {
  return engineWith([secureDefaultsModule], { tenant: { defaults }, objects }).review(request, 'mutate');
}

function applied(original: KubeObject, decision: Decision): KubeObject {
  if (!decision.patch) return original;
  return fjp.applyPatch(structuredClone(original), decision.patch as fjp.Operation[]).newDocument as KubeObject;
}

t.test('a bare pod gets every default, pod level and on init and regular containers', async (t) => {
  const pod = bare();
  const d = await mutate(createRequest(pod));
  const out = applied(pod, d);
  t.same(out.spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' }, runAsNonRoot: true, seLinuxOptions: { level: 's0:c123,c456' } });
  for (const c of [...out.spec.initContainers, ...out.spec.containers]) {
    t.same(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, c.name);
  }
  t.same(d.patchedObject, out, "the engine's combined patch reproduces the mutated object");
  t.same(pod, bare(), 'the request object is untouched');
});

t.test('values the user set are never overridden', async (t) => {
  const pod = bare();
  pod.spec.securityContext = { runAsNonRoot: false, seccompProfile: { type: 'Unconfined' }, seLinuxOptions: { level: 's0:c1,c2' } };
  pod.spec.containers[0].securityContext = { allowPrivilegeEscalation: true, capabilities: { drop: ['NET_RAW'] } };
  const out = applied(pod, await mutate(createRequest(pod)));
  t.same(out.spec.securityContext, pod.spec.securityContext);
  t.same(out.spec.containers[0].securityContext, pod.spec.containers[0].securityContext, 'drop without ALL is left alone');
  t.same(out.spec.containers[1].securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
});

t.test('fills single fields inside existing security contexts', async (t) => {
  const pod = bare();
  pod.spec.securityContext = { fsGroup: 2000, seLinuxOptions: { type: 'container_t' } };
  pod.spec.containers[0].securityContext = { readOnlyRootFilesystem: true, capabilities: { add: ['NET_BIND_SERVICE'] } };
  const d = await mutate(createRequest(pod));
  const out = applied(pod, d);
  t.same(out.spec.securityContext, {
    fsGroup: 2000,
    seLinuxOptions: { type: 'container_t', level: 's0:c123,c456' },
    seccompProfile: { type: 'RuntimeDefault' },
    runAsNonRoot: true,
  });
  t.same(out.spec.containers[0].securityContext, {
    readOnlyRootFilesystem: true,
    capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
    allowPrivilegeEscalation: false,
  });
  t.ok(d.patch!.some((op) => op.path === '/spec/securityContext/seLinuxOptions/level'), 'adds only the missing level');
});

t.test('privileged or CAP_SYS_ADMIN containers keep privilege escalation (API validation)', async (t) => {
  const pod = bare();
  pod.spec.containers[0].securityContext = { privileged: true };
  pod.spec.containers[1].securityContext = { capabilities: { add: ['CAP_SYS_ADMIN'] } };
  const out = applied(pod, await mutate(createRequest(pod)));
  t.same(out.spec.containers[0].securityContext, { privileged: true, capabilities: { drop: ['ALL'] } });
  t.same(out.spec.containers[1].securityContext, { capabilities: { add: ['CAP_SYS_ADMIN'], drop: ['ALL'] } });
});

t.test('a second pass yields no patch', async (t) => {
  const once = applied(bare(), await mutate(createRequest(bare())));
  const again = await mutate(createRequest(once));
  t.equal(again.patch, undefined);
});

t.test('only the defaults the tenant asks for', async (t) => {
  const out = applied(bare(), await mutate(createRequest(bare()), { seccomp: true }));
  t.same(out.spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' } });
  t.equal(out.spec.containers[0].securityContext, undefined);
  const withoutDefaults = await engineWith([secureDefaultsModule], { tenant: { podSecurity: { level: 'restricted', mode: 'enforce' } } }).review(
    createRequest(bare()),
    'mutate',
  );
  t.equal(withoutDefaults.patch, undefined, 'no defaults, no mutation');
});

t.test('an explicit uid 0 does not get runAsNonRoot (the kubelet would refuse to start it)', async (t) => {
  const pod = bare();
  pod.spec.containers[1].securityContext = { runAsUser: 0 };
  const out = applied(pod, await mutate(createRequest(pod)));
  t.equal(out.spec.securityContext.runAsNonRoot, undefined);
});

t.test('the seccomp field follows the legacy pod annotation where set (API validation: they must agree)', async (t) => {
  const withAnnotation = async (value: string) => {
    const pod = bare();
    pod.metadata!.annotations = { 'seccomp.security.alpha.kubernetes.io/pod': value };
    return applied(pod, await mutate(createRequest(pod))).spec.securityContext.seccompProfile;
  };
  t.equal(await withAnnotation('unconfined'), undefined, 'an explicit unconfined is left alone');
  t.same(await withAnnotation('runtime/default'), { type: 'RuntimeDefault' });
  t.same(await withAnnotation('localhost/profiles/app.json'), { type: 'Localhost', localhostProfile: 'profiles/app.json' });
});

t.test('Windows pods get only runAsNonRoot (the rest is invalid there)', async (t) => {
  const pod = bare();
  pod.spec.os = { name: 'windows' };
  const d = await mutate(createRequest(pod));
  t.same(d.patch, [{ op: 'add', path: '/spec/securityContext', value: { runAsNonRoot: true } }]);
});

t.test('ephemeral containers are left alone', async (t) => {
  const pod = bare();
  pod.spec.ephemeralContainers = [{ name: 'dbg', image: IMAGE }];
  const out = applied(pod, await mutate(createRequest(pod)));
  t.equal(out.spec.ephemeralContainers[0].securityContext, undefined);
});

t.test('pod templates are patched under their own path, on CREATE and on an UPDATE that changes the template', async (t) => {
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { selector: {}, template: { metadata: {}, spec: { containers: [{ name: 'app', image: IMAGE }] } } },
  };
  for (const operation of ['CREATE', 'UPDATE'] as const) {
    const before = structuredClone(deployment);
    before.spec.template.spec.containers[0].image = 'registry.example/app:0.9';
    const d = await mutate({ ...createRequest(deployment), operation, ...(operation === 'UPDATE' ? { oldObject: before } : {}) });
    t.same(
      d.patch!.map((op) => op.path).sort(),
      ['/spec/template/spec/containers/0/securityContext', '/spec/template/spec/securityContext'],
      operation,
    );
  }
  const cron: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly', namespace: 'team-a' },
    spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: IMAGE }] } } } } },
  };
  const out = applied(cron, await mutate(createRequest(cron)));
  t.same(out.spec.jobTemplate.spec.template.spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
});

t.test('pods are mutated on CREATE only; subresources never', async (t) => {
  const pod = bare();
  t.equal((await mutate({ ...createRequest(pod), operation: 'UPDATE', oldObject: pod })).patch, undefined, 'UPDATE');
  t.equal((await mutate({ ...createRequest(pod), operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: pod })).patch, undefined);
});

t.test('virt-launcher pods are exempt, imitations are not', async (t) => {
  const vmi: KubeObject = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vm1', namespace: 'team-a', uid: 'u1' } };
  const launcher = bare();
  launcher.metadata = {
    name: 'virt-launcher-vm1-x',
    namespace: 'team-a',
    labels: { 'kubevirt.io': 'virt-launcher' },
    ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'u1', controller: true }],
  };
  const genuine = await mutate({ ...createRequest(launcher), userInfo: { username: KUBEVIRT_CONTROLLER } }, ALL_DEFAULTS, [vmi]);
  t.equal(genuine.patch, undefined);
  t.equal(genuine.auditAnnotations['tenantguard.io/secure-defaults'], 'virt-launcher pod of VMI vm1: exempt');
  t.ok((await mutate(createRequest(launcher), ALL_DEFAULTS, [vmi])).patch, 'a user-made imitation is mutated');
});

t.test('RFC 6901 escaping of pointer segments', async (t) => {
  t.equal(escapePointerSegment('a/b~c'), 'a~1b~0c');
  t.equal(escapePointerSegment('~1'), '~01');
});

// --- property: mutate-then-validate(restricted) admits every fixture Pod that asks for nothing
// restricted forbids. "Asks for" is judged here from the fields themselves, not by the module.

const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem',
]);
const VOLUME_SOURCES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret'];
const SELINUX_TYPES = new Set([undefined, '', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const goodProfile = (p: any) => p == null || p.type === 'RuntimeDefault' || p.type === 'Localhost';
const badSELinux = (o: any) => o != null && (!SELINUX_TYPES.has(o.type) || !!o.user || !!o.role);
const hostSet = (h: any) => !!(h?.httpGet?.host || h?.tcpSocket?.host);

function asksForForbidden(pod: KubeObject): string[] {
  const spec = pod.spec;
  const asks: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) asks.push('host namespace');
  for (const v of spec.volumes ?? []) if (!VOLUME_SOURCES.some((s) => v[s] != null)) asks.push(`volume ${v.name}`);
  const psc = spec.securityContext ?? {};
  if (psc.runAsNonRoot === false || psc.runAsUser === 0) asks.push('pod runs as root');
  if (!goodProfile(psc.seccompProfile) || !goodProfile(psc.appArmorProfile) || badSELinux(psc.seLinuxOptions)) asks.push('pod profile');
  if (psc.windowsOptions?.hostProcess) asks.push('pod hostProcess');
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) asks.push(`sysctl ${s.name}`);
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== '' && v !== 'runtime/default' && !v.startsWith('localhost/')) asks.push(k);
    if (k.includes('seccomp.security.alpha.kubernetes.io/') && v !== 'runtime/default' && v !== 'docker/default' && !v.startsWith('localhost/')) asks.push(k);
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged || sc.allowPrivilegeEscalation === true || sc.runAsNonRoot === false || sc.runAsUser === 0) asks.push(`${c.name} privileges`);
    if ((sc.capabilities?.add ?? []).some((x: string) => x !== 'NET_BIND_SERVICE')) asks.push(`${c.name} adds capabilities`);
    if ((sc.capabilities?.drop ?? []).length > 0 && !sc.capabilities.drop.includes('ALL')) asks.push(`${c.name} keeps capabilities`);
    if (!goodProfile(sc.seccompProfile) || !goodProfile(sc.appArmorProfile) || badSELinux(sc.seLinuxOptions)) asks.push(`${c.name} profile`);
    if (sc.procMount != null && sc.procMount !== 'Default') asks.push(`${c.name} procMount`);
    if (sc.windowsOptions?.hostProcess) asks.push(`${c.name} hostProcess`);
    if ((c.ports ?? []).some((p: any) => p.hostPort)) asks.push(`${c.name} hostPort`);
    if ([c.livenessProbe, c.readinessProbe, c.startupProbe, c.lifecycle?.postStart, c.lifecycle?.preStop].some(hostSet)) asks.push(`${c.name} probe host`);
  }
  return asks;
}

t.test('property: mutate then validate at restricted admits every fixture Pod that asks for nothing forbidden', async (t) => {
  const pods = loadFixtures().filter((f) => f.request.kind.kind === 'Pod' && f.request.operation === 'CREATE');
  let innocent = 0;
  let asking = 0;
  for (const { file, request } of pods) {
    if (asksForForbidden(request.object!).length > 0) {
      asking++;
      continue;
    }
    innocent++;
    const engine = engineWith([secureDefaultsModule, podSecurityModule], { tenant: RESTRICTED_WITH_DEFAULTS });
    const d = await engine.review(request, 'both');
    const findings = d.modules.find((m) => m.module === 'pod-security')!.findings;
    t.same(findings.map((f) => f.message), [], `${file} passes restricted after mutation`);
    t.equal(d.allowed, true, `${file} is admitted`);
  }
  t.ok(innocent >= 30, `${innocent} fixture pods ask for nothing forbidden`);
  t.ok(asking >= 30, `${asking} fixture pods ask for something forbidden (excluded)`);
});

t.test('property check is not vacuous: without secure-defaults most of those pods are denied', async (t) => {
  const pods = loadFixtures().filter((f) => f.request.kind.kind === 'Pod' && f.request.operation === 'CREATE' && asksForForbidden(f.request.object!).length === 0);
  let denied = 0;
  for (const { request } of pods) {
    const d = await engineWith([podSecurityModule], { tenant: RESTRICTED_WITH_DEFAULTS }).review(request, 'validate');
    if (!d.allowed) denied++;
  }
  t.ok(denied >= 10, `${denied} of ${pods.length} are denied unmutated`);
});
