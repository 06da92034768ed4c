// What each overlay changes, checked on what `kubectl kustomize` builds: cert-manager issues the
// Secret the Deployment mounts and injects the CA; mtls names a mounted client CA to the server;
// monitoring scrapes the metrics port and ships the dashboard.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { CA_INJECTION_ANNOTATION, renderManifests } from '../manifests/render.js';
import type { KubeObject } from '../policies/types.js';
import { buildConfig, parseConfigText } from '../server/config-load.js';
import { findNamed, kustomizeBuild, MANIFESTS_DIR, parseDocs } from './helpers/manifests.js';

const WEBHOOK_KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];
type Container = { name: string; env?: Array<{ name: string; value: string }>; volumeMounts: Array<{ name: string; mountPath: string }>; livenessProbe: any; readinessProbe: any; ports: Array<{ name: string }> };

function container(docs: KubeObject[]): Container {
  return findNamed(docs, 'Deployment', 'tenantguard').spec.template.spec.containers[0];
}
function volume(docs: KubeObject[], name: string): any {
  return findNamed(docs, 'Deployment', 'tenantguard').spec.template.spec.volumes.find((v: { name: string }) => v.name === name);
}

t.test('cert-manager: the serving Certificate fills the Secret the Deployment mounts, and its CA is injected', async (t) => {
  const docs = await kustomizeBuild('overlays/cert-manager');
  const serving = findNamed(docs, 'Certificate', 'tenantguard-serving');
  t.equal(serving.spec.secretName, volume(docs, 'tls').secret.secretName, 'the mounted Secret');
  // cert-manager owns the certificate: tenantguard's own management is off and it reads the mounted files.
  const env = Object.fromEntries((container(docs).env ?? []).map((e) => [e.name, e.value]));
  const loaded = buildConfig((parseConfigText((findNamed(docs, 'ConfigMap', 'tenantguard-config').data as Record<string, string>)['config.yaml']!, 'config.yaml') as { value: Record<string, unknown> }).value, { env });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  t.equal(loaded.config.certificates.selfManage, false, 'self-management is off');
  for (const file of [loaded.config.tls.certFile!, loaded.config.tls.keyFile!]) {
    t.ok(container(docs).volumeMounts.some((m) => m.name === 'tls' && file.startsWith(`${m.mountPath}/`)), `${file} is in the mounted Secret`);
  }
  for (const kind of WEBHOOK_KINDS) {
    const config = docs.find((d) => d.kind === kind)!;
    t.equal(config.metadata?.annotations?.[CA_INJECTION_ANNOTATION], `${serving.metadata?.namespace}/${serving.metadata?.name}`, `${kind}: injected from the serving Certificate`);
    for (const hook of config.webhooks as Array<{ name: string; clientConfig: { caBundle?: string; service: { name: string; namespace: string } } }>) {
      t.equal(hook.clientConfig.caBundle, undefined, `${hook.name}: no placeholder for the injector to replace`);
      const { name, namespace } = hook.clientConfig.service;
      t.ok(serving.spec.dnsNames.includes(`${name}.${namespace}.svc`), `${hook.name}: the certificate covers the name the apiserver calls`);
    }
  }
  t.ok(serving.spec.usages.includes('server auth'));
  // The chain: a self-signed bootstrap Issuer signs the CA Certificate; the CA Issuer signs the serving one.
  const ca = findNamed(docs, 'Certificate', 'tenantguard-ca');
  t.equal(ca.spec.isCA, true);
  t.ok(findNamed(docs, 'Issuer', ca.spec.issuerRef.name).spec.selfSigned, 'the CA is signed by the bootstrap Issuer');
  t.equal(findNamed(docs, 'Issuer', serving.spec.issuerRef.name).spec.ca.secretName, ca.spec.secretName, 'the serving certificate is signed by the CA');
  t.ok(parseInt(ca.spec.duration, 10) > parseInt(serving.spec.duration, 10), 'the CA (hours) outlives the serving certificate');
});

t.test('cert-manager: rendering leaves the injected configurations alone', async (t) => {
  const docs = parseDocs(await renderManifests(Buffer.from('unused').toString('base64'), join(MANIFESTS_DIR, 'overlays/cert-manager')), 'cert-manager');
  for (const config of docs.filter((d) => WEBHOOK_KINDS.includes(d.kind!))) {
    t.ok((config.webhooks as Array<{ clientConfig: { caBundle?: string } }>).every((h) => h.clientConfig.caBundle === undefined), config.kind!);
  }
});

t.test('mtls: the server config names a client CA the Deployment mounts', async (t) => {
  const docs = await kustomizeBuild('overlays/mtls');
  const c = container(docs);
  const clientCA = c.env!.find((e) => e.name === 'TENANTGUARD_CLIENT_CA')!.value;
  const mount = c.volumeMounts.find((m) => m.name === 'client-ca')!;
  t.equal(clientCA, `${mount.mountPath}/ca.crt`, 'TENANTGUARD_CLIENT_CA is the ca.crt key of the mount');
  t.equal(volume(docs, 'client-ca').secret.secretName, 'tenantguard-client-ca');
  // The server reads TENANTGUARD_CLIENT_CA as tls.clientCAFile (server/config-load.ts); the test of
  // mutual TLS itself, a client with and one without a certificate, is in test/cli-serve.test.ts.
  const configText = (findNamed(docs, 'ConfigMap', 'tenantguard-config').data as Record<string, string>)['config.yaml']!;
  t.ok(parseConfigText(configText, 'config.yaml').ok, 'the config is unchanged and valid');
  // Probes without a client certificate cannot do HTTPS: they ask the plain metrics port.
  t.same(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics', scheme: 'HTTP' });
  t.same(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics', scheme: 'HTTP' });
  const base = container(await kustomizeBuild('base'));
  t.equal(base.env!.some((e) => e.name === 'TENANTGUARD_CLIENT_CA'), false, 'the base has no client CA');
});

const OVERLAYS = ['base', 'overlays/cert-manager', 'overlays/mtls', 'overlays/monitoring'];

t.test('every overlay probes readiness for real: GET /readyz on a port that serves it to the kubelet', async (t) => {
  for (const dir of OVERLAYS) {
    const docs = await kustomizeBuild(dir);
    const c = container(docs);
    const config = parseConfigText((findNamed(docs, 'ConfigMap', 'tenantguard-config').data as Record<string, string>)['config.yaml']!, 'config.yaml');
    if (!config.ok) throw new Error(`${dir}: config invalid`);
    const mtls = c.env?.some((e) => e.name === 'TENANTGUARD_CLIENT_CA') ?? false;
    const ports = c.ports as Array<{ name: string; containerPort: number }>;
    for (const [probe, path] of [[c.readinessProbe, '/readyz'], [c.livenessProbe, '/healthz']] as const) {
      t.equal(probe.tcpSocket, undefined, `${dir} ${path}: not a bare TCP check`);
      t.equal(probe.exec, undefined, `${dir} ${path}: not a command`);
      t.equal(probe.httpGet?.path, path, `${dir}: ${path}`);
      const port = ports.find((p) => p.name === probe.httpGet.port)!;
      if (port.containerPort === (config.value as any).metrics?.port) {
        t.equal(probe.httpGet.scheme, 'HTTP', `${dir} ${path}: the metrics port is plain HTTP (server/webhook-server.ts startMetricsServer)`);
      } else {
        t.equal(port.containerPort, (config.value as any).listen?.port ?? 8443, `${dir} ${path}: the webhook port`);
        t.equal(probe.httpGet.scheme, 'HTTPS', `${dir} ${path}: the webhook port is HTTPS`);
        t.notOk(mtls, `${dir} ${path}: the kubelet presents no client certificate, so not under mutual TLS`);
      }
    }
  }
});

t.test('monitoring: the ServiceMonitor scrapes the Service metrics port; the dashboard ships as a ConfigMap', async (t) => {
  const docs = await kustomizeBuild('overlays/monitoring');
  const monitor = findNamed(docs, 'ServiceMonitor', 'tenantguard');
  const service = findNamed(docs, 'Service', 'tenantguard');
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) t.equal(service.metadata?.labels?.[k], v, `selects the Service by ${k}`);
  t.same(monitor.spec.namespaceSelector.matchNames, [service.metadata?.namespace]);
  const port = (service.spec.ports as Array<{ name: string; targetPort: string }>).find((p) => p.name === monitor.spec.endpoints[0].port)!;
  t.ok(port, 'the endpoint names a Service port');
  t.ok(container(docs).ports.some((p) => p.name === port.targetPort), 'which leads to the container metrics port');
  const dashboard = findNamed(docs, 'ConfigMap', 'tenantguard-dashboard');
  t.equal(dashboard.metadata?.labels?.grafana_dashboard, '1', 'the label the Grafana sidecar loads');
  t.same(JSON.parse((dashboard.data as Record<string, string>)['tenantguard-dashboard.json']!), JSON.parse(readFileSync(join(MANIFESTS_DIR, 'components/monitoring/tenantguard-dashboard.json'), 'utf8')));
  t.equal(findNamed(docs, 'PrometheusRule', 'tenantguard').metadata?.namespace, 'tenantguard');
  // kube-prometheus-stack's defaults: its selectors look for release=<release>; Grafana's sidecar
  // watches Grafana's own namespace; Prometheus scrapes from the monitoring namespace.
  t.equal(monitor.metadata?.labels?.release, 'kube-prometheus-stack');
  t.equal(findNamed(docs, 'PrometheusRule', 'tenantguard').metadata?.labels?.release, 'kube-prometheus-stack');
  t.equal(dashboard.metadata?.namespace, 'monitoring', 'the dashboard where the sidecar looks by default');
  t.same(findNamed(docs, 'NetworkPolicy', 'tenantguard').spec.ingress[1].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  t.equal(docs.some((d) => d.metadata?.name === 'tenantguard-monitoring-settings'), false, 'the settings are not installed');
});

t.test('monitoring settings: your release label, Prometheus namespace and runbook URL reach every object that needs them', async (t) => {
  const dir = t.testdir({});
  const rel = (p: string): string => relative(dir, join(MANIFESTS_DIR, p));
  const settings = readFileSync(join(MANIFESTS_DIR, 'overlays/monitoring/monitoring-settings.yaml'), 'utf8')
    .replace('release: kube-prometheus-stack', 'release: prom')
    .replace('namespace: monitoring', 'namespace: observability')
    .replace('https://github.com/tenantguard/tenantguard/blob/main/README.md', 'https://git.example.com/platform/tenantguard/README.md');
  writeFileSync(join(dir, 'monitoring-settings.yaml'), settings);
  writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${rel('base')}, monitoring-settings.yaml]\ncomponents: [${rel('components/monitoring')}]\n`);
  const docs = await kustomizeBuild(relative(MANIFESTS_DIR, dir));
  t.equal(findNamed(docs, 'ServiceMonitor', 'tenantguard').metadata?.labels?.release, 'prom');
  const rule = findNamed(docs, 'PrometheusRule', 'tenantguard');
  t.equal(rule.metadata?.labels?.release, 'prom');
  t.equal(findNamed(docs, 'ConfigMap', 'tenantguard-dashboard').metadata?.namespace, 'observability');
  t.same(findNamed(docs, 'NetworkPolicy', 'tenantguard').spec.ingress[1].from[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'observability' });
  for (const r of (rule.spec.groups as Array<{ rules: Array<{ alert: string; annotations: { runbook_url: string } }> }>).flatMap((g) => g.rules)) {
    t.equal(r.annotations.runbook_url, `https://git.example.com/platform/tenantguard/README.md#${r.alert.toLowerCase()}`, r.alert);
  }
});

t.test('audit: an hourly CronJob runs `audit --apply` with the webhook\'s config, as an identity that reads what the webhook reads and writes only Reports', async (t) => {
  const docs = await kustomizeBuild('overlays/audit');
  const cron = findNamed(docs, 'CronJob', 'tenantguard-audit');
  t.equal(cron.spec.concurrencyPolicy, 'Forbid', 'never two audits at once');
  const pod = cron.spec.jobTemplate.spec.template.spec;
  const [c] = pod.containers;
  t.same(c.command.slice(-2), ['dist/server/commands/cli.js', 'audit']);
  t.same(c.args, ['--config', '/etc/tenantguard/config/config.yaml', '--output', 'openreports', '--apply']);
  const mount = c.volumeMounts.find((m: { mountPath: string }) => '/etc/tenantguard/config/config.yaml'.startsWith(`${m.mountPath}/`));
  t.equal(pod.volumes.find((v: { name: string }) => v.name === mount.name).configMap.name, 'tenantguard-config', 'the same config as the webhook');
  t.equal(c.image, findNamed(docs, 'Deployment', 'tenantguard').spec.template.spec.containers[0].image, 'the same image as the webhook');
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(c.securityContext.readOnlyRootFilesystem, true);

  const binding = findNamed(docs, 'ClusterRoleBinding', 'tenantguard-audit');
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: 'tenantguard' }]);
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  const rules = findNamed(docs, 'ClusterRole', (binding.roleRef as { name: string }).name).rules as Rule[];
  const grants = (rs: Rule[], verb: string): Set<string> => new Set(rs.filter((r) => r.verbs.includes(verb) && !r.resourceNames).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))));
  const webhookReads = grants(findNamed(docs, 'ClusterRole', 'tenantguard').rules as Rule[], 'list');
  t.same([...grants(rules, 'list')].sort(), [...webhookReads].sort(), 'lists exactly the kinds the webhook lists');
  const writes = rules.filter((r) => r.verbs.some((v) => !['get', 'list'].includes(v)));
  t.same(writes, [{ apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['get', 'create', 'update'] }], 'writes only Reports');
});
