// The PrometheusRule's alerts, unit-tested with the real promtool (Debian's prometheus package;
// .ci/run installs it): `promtool check rules` on the rule groups, then the cases in
// test/fixtures/promtool/alerts.test.yaml. Each alert of SPEC 11.1 exists and has a README runbook.
// The rules are read as the monitoring overlay renders them (the settings' runbook URL filled in).
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { findNamed, kustomizeBuild, MANIFESTS_DIR, readOne } from './helpers/manifests.js';

const run = promisify(execFile);
const ROOT = join(MANIFESTS_DIR, '..');
const CASES = join(ROOT, 'test/fixtures/promtool/alerts.test.yaml');

type AlertRule = { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> };
const rule = findNamed(await kustomizeBuild('overlays/monitoring'), 'PrometheusRule', 'tenantguard');
const settings = readOne('overlays/monitoring/monitoring-settings.yaml').data as Record<string, string>;
const groups = rule.spec.groups as Array<{ name: string; rules: AlertRule[] }>;
const alerts = groups.flatMap((g) => g.rules);

async function promtool(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw e;
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A directory with the rule groups as a plain Prometheus rule file and the promtool cases beside it. */
async function ruleDir(t: Test, ruleGroups: unknown): Promise<string> {
  const dir = t.testdir({});
  await writeFile(join(dir, 'tenantguard-rules.yaml'), stringify({ groups: ruleGroups }));
  await copyFile(CASES, join(dir, 'alerts.test.yaml'));
  return dir;
}

const available = await run('promtool', ['--version']).then(() => true, () => false);

t.test('SPEC 11.1 alerts, each with a severity and a README runbook section', async (t) => {
  t.same([...new Set(alerts.map((a) => a.alert))].sort(), [
    'TenantguardCacheNotSynced',
    'TenantguardCertificateExpiringSoon',
    'TenantguardDenialsSpike',
    'TenantguardDown',
    'TenantguardQuotaNearlyExhausted',
    'TenantguardReconcileFailing',
    'TenantguardReservationsExpiring',
    'TenantguardTenantReconcileFailing',
    'TenantguardWebhookFailingOpen',
    'TenantguardWebhookLatencyHigh',
    'TenantguardWebhookUnreachable',
  ]);
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  // GitHub's anchor of a heading: lower case, spaces to '-', punctuation dropped.
  const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const a of alerts) {
    t.match(a.labels.severity, /^(info|warning|critical)$/, `${a.alert}: severity`);
    t.ok(a.annotations.summary && a.annotations.description, `${a.alert}: summary and description`);
    t.equal(a.annotations.runbook_url, `${settings.runbookBaseURL}#${a.alert.toLowerCase()}`, `${a.alert}: runbook_url, absolute`);
    t.match(a.annotations.runbook_url, /^https:\/\//);
    t.ok(anchors.has(a.alert.toLowerCase()), `${a.alert}: the README has the runbook section`);
  }
});

t.test('the apiserver series are selected by the label names kube-apiserver gives them', async (t) => {
  // staging/src/k8s.io/apiserver/pkg/admission/metrics/metrics.go: webhook_rejection_count has
  // name, type, operation, error_type, rejection_code; webhook_fail_open_count has name, type.
  const byName = Object.fromEntries(alerts.map((a) => [a.alert, a.expr]));
  t.match(byName.TenantguardWebhookUnreachable, /apiserver_admission_webhook_rejection_count\{name=~"\.\+\\\\\.tenantguard\\\\\.io", error_type="calling_webhook_error"\}/);
  t.match(byName.TenantguardWebhookFailingOpen, /apiserver_admission_webhook_fail_open_count\{name=~"\.\+\\\\\.tenantguard\\\\\.io"\}/);
});

t.test('promtool: the rules are valid and every case passes', { skip: available ? false : 'promtool is not installed (apt-get install prometheus; .ci/run does)', timeout: 120_000 }, async (t) => {
  const dir = await ruleDir(t, groups);
  const check = await promtool(['check', 'rules', 'tenantguard-rules.yaml'], dir);
  t.equal(check.code, 0, check.out);
  t.match(check.out, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  const test = await promtool(['test', 'rules', 'alerts.test.yaml'], dir);
  t.equal(test.code, 0, test.out);
  t.match(test.out, /SUCCESS/);
});

t.test('promtool: the cases catch a wrong threshold', { skip: available ? false : 'promtool is not installed', timeout: 120_000 }, async (t) => {
  const weakened = structuredClone(groups);
  const quota = weakened.flatMap((g) => g.rules).find((r) => r.alert === 'TenantguardQuotaNearlyExhausted')!;
  quota.expr = quota.expr.replace('> 0.9', '> 0.99');
  const test = await promtool(['test', 'rules', 'alerts.test.yaml'], await ruleDir(t, weakened));
  t.not(test.code, 0, 'promtool fails');
  t.match(test.out, /alertname: TenantguardQuotaNearlyExhausted/);
});
