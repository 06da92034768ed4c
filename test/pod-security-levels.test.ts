// Which level, mode and version pod-security applies: the tenant's podSecurity, overridden per mode
// by the namespace's pod-security.kubernetes.io labels (PSA's PolicyToEvaluate), with PSA's
// fallbacks for invalid values and its version pins.
import t from 'tap';
import type { Decision } from '../policies/engine.js';
import { ALL_CHECKS, checksAt } from '../policies/pod-security/evaluator.js';
import { podSecurityModule } from '../policies/pod-security/module.js';
import { parsePolicyVersion, VERSION_HISTORY } from '../policies/pod-security/versions.js';
import type { Finding, KubeObject } from '../policies/types.js';
import { engineWith, type Setup } from './fixtures/pod-security/engine.js';
import { createRequest } from './fixtures/pod-security/load.js';

const IMAGE = 'registry.example/app:1.0';

/** Passes baseline, fails restricted (no security context at all). */
const plainPod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'plain', namespace: 'team-a' },
  spec: { containers: [{ name: 'app', image: IMAGE }] },
});

/** Fails baseline (and so restricted). */
const privilegedPod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'priv', namespace: 'team-a' },
  spec: { containers: [{ name: 'app', image: IMAGE, securityContext: { privileged: true } }] },
});

/** Fails baseline only from policy v1.34 (probe host). */
const probeHostPod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'probe', namespace: 'team-a' },
  spec: { containers: [{ name: 'app', image: IMAGE, livenessProbe: { tcpSocket: { host: '10.1.2.3', port: 80 } } }] },
});

async function review(setup: Setup, pod: KubeObject): Promise<{ decision: Decision; findings: Finding[] }> {
  const decision = await engineWith([podSecurityModule], setup).review(createRequest(pod), 'validate');
  const outcome = decision.modules.find((m) => m.module === 'pod-security')!;
  return { decision, findings: outcome.findings };
}

const rules = (findings: Finding[], mode: Finding['mode']) => findings.filter((f) => f.mode === mode).map((f) => f.rule);

t.test('without PSA labels the tenant policy applies', async (t) => {
  const { decision, findings } = await review({ tenant: { podSecurity: { level: 'restricted', mode: 'enforce' } } }, plainPod());
  t.equal(decision.allowed, false);
  t.same(rules(findings, 'enforce'), ['Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
  t.equal(decision.auditAnnotations['tenantguard.io/pod-security'], 'enforce=restricted:latest');
});

t.test('PSA labels apply per mode, each at its own level, and tighten the tenant', async (t) => {
  const setup: Setup = {
    tenant: { podSecurity: { level: 'baseline', mode: 'enforce' } },
    namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'restricted' },
  };
  const { decision, findings } = await review(setup, plainPod());
  t.equal(decision.allowed, true, 'baseline enforce allows the plain pod');
  t.same(rules(findings, 'warn'), ['Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
  t.equal(decision.warnings.length, 4);
  t.ok(decision.warnings.every((w) => w.startsWith('[pod-security] ')));
  t.equal(decision.auditAnnotations['tenantguard.io/pod-security'], 'enforce=baseline:latest, warn=restricted:latest');
  const tightened = await review(
    { tenant: { podSecurity: { level: 'baseline', mode: 'enforce' } }, namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    plainPod(),
  );
  t.equal(tightened.decision.allowed, false, 'a label may raise the tenant level');
  t.same(rules(tightened.findings, 'enforce'), ['Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
});

t.test('a PSA label never relaxes the level the Tenant sets for the same mode', async (t) => {
  const { decision, findings } = await review(
    { tenant: { podSecurity: { level: 'restricted', mode: 'enforce' } }, namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'privileged' } },
    plainPod(),
  );
  t.equal(decision.allowed, false);
  t.same(rules(findings, 'enforce'), ['Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
});

t.test('a mode without a label keeps the tenant setting', async (t) => {
  const setup: Setup = {
    tenant: { podSecurity: { level: 'baseline', mode: 'enforce' } },
    namespaceLabels: { 'pod-security.kubernetes.io/audit': 'restricted' },
  };
  const { decision, findings } = await review(setup, privilegedPod());
  t.equal(decision.allowed, false, 'tenant baseline enforce still denies');
  t.same(rules(findings, 'enforce'), ['Privileged Containers']);
  t.same(rules(findings, 'audit'), ['Privileged Containers', 'Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
  t.match(decision.auditAnnotations['tenantguard.io/pod-security'], /^enforce=baseline:latest, audit=restricted:latest; Privileged Containers: privileged/);
});

t.test('no warnings on a request that is denied (as PSA)', async (t) => {
  const setup: Setup = {
    namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'restricted' },
  };
  const { decision, findings } = await review(setup, privilegedPod());
  t.equal(decision.allowed, false);
  t.same(rules(findings, 'warn'), []);
  t.same(decision.warnings, []);
});

t.test('warn and audit modes allow', async (t) => {
  for (const mode of ['warn', 'audit'] as const) {
    const { decision, findings } = await review({ tenant: { podSecurity: { level: 'baseline', mode } } }, privilegedPod());
    t.equal(decision.allowed, true, `${mode} allows`);
    t.same(rules(findings, mode), ['Privileged Containers']);
  }
});

t.test("the server's default tenant applies to unclaimed namespaces", async (t) => {
  const { decision, findings } = await review({ defaultTenant: { podSecurity: { level: 'baseline', mode: 'warn' } } }, privilegedPod());
  t.equal(decision.allowed, true);
  t.same(rules(findings, 'warn'), ['Privileged Containers']);
});

t.test('privileged everywhere checks nothing', async (t) => {
  const { decision, findings } = await review({ namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'privileged' } }, privilegedPod());
  t.equal(decision.allowed, true);
  t.same(findings, []);
  t.same(decision.auditAnnotations, {});
});

t.test('an invalid enforce level fails closed to restricted, an invalid warn level open to privileged', async (t) => {
  const { decision, findings } = await review(
    { namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'strict', 'pod-security.kubernetes.io/warn': 'loud' } },
    plainPod(),
  );
  t.equal(decision.allowed, false);
  t.same(rules(findings, 'enforce'), ['Privilege Escalation', 'Capabilities', 'Running as Non-root', 'Seccomp']);
  t.same(rules(findings, 'warn'), []);
  const annotation = decision.auditAnnotations['tenantguard.io/pod-security']!;
  t.match(annotation, 'enforce=restricted:latest');
  t.match(annotation, 'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted');
  t.match(annotation, 'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "loud"');
});

t.test('an invalid version label means latest and is reported', async (t) => {
  const { decision } = await review(
    { namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': '1.33' } },
    probeHostPod(),
  );
  t.equal(decision.allowed, false, 'latest includes the probe-host check');
  t.match(decision.auditAnnotations['tenantguard.io/pod-security'], 'enforce-version]: Invalid value: "1.33": must be "latest" or "v1.x"');
});

t.test('version pins: a control newer than the pin is not applied; a pin past the newest is latest', async (t) => {
  const at = async (version: string) =>
    (await review(
      { namespaceLabels: { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': version } },
      probeHostPod(),
    )).decision.allowed;
  t.equal(await at('v1.33'), true, 'v1.33 predates the probe-host check');
  t.equal(await at('v1.34'), false);
  t.equal(await at('v1.99'), false, 'a future pin evaluates as latest');
  t.equal(await at('latest'), false);
  const tenantPinned = await review({ tenant: { podSecurity: { level: 'baseline', mode: 'enforce', version: 'v1.33' } } }, probeHostPod());
  t.equal(tenantPinned.decision.allowed, true, 'the tenant can pin a version too');
});

t.test('a tenant never valid with an invalid version is judged by the strictest reading, at latest', async (t) => {
  // server/cluster/tenant-spec-guard.ts: an unusable podSecurity section reads as restricted/enforce.
  const { decision } = await review({ tenant: { podSecurity: { level: 'baseline', mode: 'enforce', version: 'one-thirty' } } }, probeHostPod());
  t.equal(decision.allowed, false);
  t.equal(decision.auditAnnotations['tenantguard.io/pod-security'], 'enforce=restricted:latest');
});

t.test('policy versions parse as PSA parses them', async (t) => {
  t.same(parsePolicyVersion('v1.0'), { minor: 0, text: 'v1.0' });
  t.same(parsePolicyVersion('v1.35'), { minor: 35, text: 'v1.35' });
  t.equal(parsePolicyVersion('latest')!.minor, Infinity);
  for (const bad of ['v1.035', 'v2.1', '1.30', 'v1.', 'v1.30.1', 'Latest', '']) t.equal(parsePolicyVersion(bad), undefined, bad);
});

t.test('the version history records exactly the checks’ revisions', async (t) => {
  const revisions = ALL_CHECKS.flatMap((c) =>
    c.versions.filter((v) => v.minVersion > 0).map((v) => `v1.${v.minVersion} ${c.level} ${c.control}`),
  );
  const recorded = VERSION_HISTORY.map((h) => `${h.version} ${h.level} ${h.control}`);
  t.same([...recorded].sort(), [...revisions].sort());
});

t.test('restricted overrides baseline checks only where a restricted revision exists', async (t) => {
  const controls = (level: 'baseline' | 'restricted', v: number) => checksAt(level, v).map((c) => c.control);
  t.notOk(controls('restricted', 35).includes('HostPath Volumes'), 'Volume Types replaces HostPath Volumes');
  t.equal(controls('restricted', 35).filter((c) => c === 'Capabilities').length, 1);
  t.equal(controls('restricted', 21).filter((c) => c === 'Capabilities').length, 1, 'baseline Capabilities before v1.22');
  t.equal(controls('restricted', 18).filter((c) => c === 'Seccomp').length, 1, 'baseline (annotation) Seccomp before v1.19');
  t.notOk(controls('restricted', 7).includes('Privilege Escalation'), 'no Privilege Escalation check before v1.8');
  t.notOk(controls('baseline', 35).includes('Running as Non-root'), 'baseline has no restricted controls');
});
