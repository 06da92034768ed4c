import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_CONFIG } from '../server/config.js';
import {
  buildConfig,
  engineConfigOf,
  loadConfig,
  parseConfigText,
  validateConfig,
  validateTenantSpec,
  type LoadResult,
} from '../server/config-load.js';

/** Parses YAML text as the config file and builds the config with no env or flags. */
function fromYaml(text: string, file = '/etc/tenantguard/config.yaml'): LoadResult {
  const parsed = parseConfigText(text, file);
  return parsed.ok ? buildConfig(parsed.value, {}) : parsed;
}

function errorsOf(result: LoadResult): string[] {
  return result.ok ? [] : result.errors;
}

t.test('no file, env or flags: the defaults, which are valid', async (t) => {
  t.same(validateConfig(DEFAULT_CONFIG), []);
  const result = buildConfig(undefined, {});
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.config, DEFAULT_CONFIG);
  t.not(result.config, DEFAULT_CONFIG, 'a copy: reloads can never modify the defaults');
});

t.test('a complete valid file is taken as written', async (t) => {
  const result = fromYaml(`
listen: {host: 127.0.0.1, port: 9443}
tls: {certFile: /certs/tls.crt, keyFile: /certs/tls.key, clientCAFile: /certs/client-ca.crt}
metrics: {port: 9090}
logLevel: debug
bodyLimitBytes: 1048576
state: /var/lib/tenantguard/state
namespace: tenantguard
exemptions: {namespaces: [kube-system], usernames: [admin-bot], groups: [breakglass]}
modules:
  pod-security: {failureMode: ignore, timeoutMs: 50, enabled: true}
  network-policy: {failureMode: fail, timeoutMs: 500, enabled: false}
defaultTenant:
  podSecurity: {level: restricted, mode: enforce, version: v1.30}
  quota: {hard: {count/pods: 10, requests.cpu: 500m, requests.memory: 2Gi}, vmCharging: guest}
  networkPolicy: {mode: warn, require: [Ingress, Egress]}
kubevirt: {serviceAccounts: ['system:serviceaccount:kubevirt:kubevirt-controller']}
shutdownGraceMs: 10000
`);
  t.same(errorsOf(result), []);
  if (!result.ok) return;
  const c = result.config;
  t.same(c.listen, { host: '127.0.0.1', port: 9443 });
  t.equal(c.metrics.port, 9090);
  t.equal(c.logLevel, 'debug');
  t.same(c.modules['pod-security'], { failureMode: 'ignore', timeoutMs: 50, enabled: true });
  t.same(c.modules['network-policy'], { failureMode: 'fail', timeoutMs: 500, enabled: false });
  t.same(c.modules['tenant-quota'], DEFAULT_CONFIG.modules['tenant-quota'], 'modules the file does not name keep their defaults');
  t.same(c.defaultTenant.quota, { hard: { 'count/pods': 10, 'requests.cpu': '500m', 'requests.memory': '2Gi' }, vmCharging: 'guest' });
  t.same(c.exemptions.namespaces, ['kube-system', 'tenantguard'], 'the own namespace is added to an explicit list');
  t.same(c.exemptions.usernames, ['admin-bot']);
});

t.test('each kind of invalid value is reported with its exact path', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['enum', 'modules: {pod-security: {failureMode: sometimes}}', 'modules.pod-security.failureMode: must be one of fail, ignore, got "sometimes"'],
    ['unknown module', 'modules: {pod-securty: {failureMode: fail}}', 'modules.pod-securty: unknown field (known fields: namespace-label, secure-defaults, launcher-stamp-mutate, pod-security, vm-security, network-policy, launcher-stamp, tenant-quota)'],
    ['unknown top-level field', 'listenn: {port: 1}', 'listenn: unknown field'],
    ['wrong type', 'listen: {port: "8443"}', 'listen.port: must be an integer, got string'],
    ['out of range', 'listen: {port: 70000}', 'listen.port: must be <= 65535, got 70000'],
    ['below minimum', 'modules: {tenant-quota: {timeoutMs: 0}}', 'modules.tenant-quota.timeoutMs: must be >= 1, got 0'],
    ['grant lease too short', 'quota: {grantLeaseSeconds: 2}', 'quota.grantLeaseSeconds: must be >= 10, got 2'],
    ['cert without key', 'tls: {certFile: /certs/tls.crt}', 'tls.keyFile: is required when tls.certFile is set'],
    ['bad namespace', 'namespace: Tenant_Guard', 'namespace: must be a namespace name (DNS-1123 label), got "Tenant_Guard"'],
    ['list item type', 'exemptions: {namespaces: [kube-system, 42]}', 'exemptions.namespaces[1]: must be a string, got number'],
    ['bad quantity', 'defaultTenant: {quota: {hard: {requests.cpu: lots}}}', 'defaultTenant.quota.hard["requests.cpu"]: must be a Kubernetes quantity such as 10, 500m or 20Gi, got "lots"'],
    ['bad resource name', 'defaultTenant: {quota: {hard: {"cpu please": "1"}}}', 'defaultTenant.quota.hard: key "cpu please" is not valid: must be a resource name such as requests.cpu or count/pods'],
    ['tenant selector in defaultTenant', 'defaultTenant: {namespaces: [a]}', 'defaultTenant.namespaces: unknown field'],
    ['bad log level', 'logLevel: verbose', 'logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"'],
    ['object expected', 'exemptions: none', 'exemptions: must be a mapping, got string'],
  ];
  for (const [name, yaml, message] of cases) {
    const errors = errorsOf(fromYaml(yaml));
    t.ok(errors.some((e) => e.startsWith(message)), `${name}: ${message}`, { errors });
  }
});

t.test('every error is reported at once, not only the first', async (t) => {
  const errors = errorsOf(fromYaml('logLevel: loud\nlisten: {port: -1}\nmodules: {vm-security: {enabled: maybe}}'));
  t.equal(errors.length, 3, errors.join('\n'));
});

t.test('a file that is not a YAML mapping is refused with the file named', async (t) => {
  t.same(errorsOf(fromYaml('- a\n- b', '/etc/tg/config.yaml')), ['/etc/tg/config.yaml: must be a YAML mapping of config fields, got array']);
  const broken = errorsOf(fromYaml('listen: {port: 1\nlogLevel: info', '/etc/tg/config.yaml'));
  t.equal(broken.length, 1);
  t.match(broken[0], /^\/etc\/tg\/config\.yaml: /);
  t.match(errorsOf(fromYaml('logLevel: info\nlogLevel: debug'))[0], /Map keys must be unique/);
  t.same(errorsOf(fromYaml('')), [], 'an empty file means all defaults');
});

t.test('merge order: defaults < file < env < flags', async (t) => {
  const dir = t.testdir({ 'config.yaml': 'listen: {port: 9000, host: 10.0.0.1}\nlogLevel: warn\nmetrics: {port: 9090}\n' });
  const file = join(dir, 'config.yaml');
  const env = { TENANTGUARD_PORT: '9100', TENANTGUARD_LOG_LEVEL: 'error' };

  const fileOnly = await loadConfig({ flags: { config: file } });
  t.ok(fileOnly.ok);
  if (!fileOnly.ok) return;
  t.same(fileOnly.config.listen, { port: 9000, host: '10.0.0.1' }, 'file over defaults');
  t.equal(fileOnly.config.shutdownGraceMs, DEFAULT_CONFIG.shutdownGraceMs, 'defaults fill what the file leaves out');

  const withEnv = await loadConfig({ env: { ...env, TENANTGUARD_CONFIG: file } });
  t.ok(withEnv.ok);
  if (!withEnv.ok) return;
  t.equal(withEnv.config.listen.port, 9100, 'env over file');
  t.equal(withEnv.config.listen.host, '10.0.0.1', 'fields env does not set stay from the file');
  t.equal(withEnv.config.logLevel, 'error');

  const withFlags = await loadConfig({ env: { ...env, TENANTGUARD_CONFIG: '/nonexistent.yaml' }, flags: { config: file, port: '9200' } });
  t.ok(withFlags.ok, '--config wins over TENANTGUARD_CONFIG');
  if (!withFlags.ok) return;
  t.equal(withFlags.config.listen.port, 9200, 'flags over env');
  t.equal(withFlags.config.logLevel, 'error', 'env still applies where no flag is given');
  t.equal(withFlags.config.metrics.port, 9090);
});

t.test('env and flag values are checked and named', async (t) => {
  t.same(errorsOf(buildConfig(undefined, { env: { TENANTGUARD_PORT: 'https' } })), ['TENANTGUARD_PORT: must be an integer from 0 to 65535, got "https"']);
  t.same(errorsOf(buildConfig(undefined, { flags: { 'metrics-port': '65536' } })), ['--metrics-port: must be an integer from 0 to 65535, got "65536"']);
  t.same(errorsOf(buildConfig(undefined, { flags: { 'log-level': 'chatty' } })), ['--log-level: must be one of fatal, error, warn, info, debug, trace, silent, got "chatty"']);
  t.same(errorsOf(buildConfig(undefined, { flags: { cert: '/a.crt' } })), ['tls.keyFile: is required when tls.certFile is set']);
  const empty = buildConfig(undefined, { env: { TENANTGUARD_PORT: '' } });
  t.ok(empty.ok && empty.config.listen.port === 8443, 'an empty variable counts as unset');
});

t.test('a missing config file is an error that names it', async (t) => {
  const result = await loadConfig({ flags: { config: '/nonexistent/tenantguard.yaml' } });
  t.equal(result.ok, false);
  t.match(errorsOf(result)[0], /^cannot read config file \/nonexistent\/tenantguard\.yaml: ENOENT/);
});

t.test('paths in the file are relative to the file; in flags, to the working directory', async (t) => {
  const dir = t.testdir({ 'config.yaml': 'tls: {certFile: certs/tls.crt, keyFile: /abs/tls.key}\nstate: state\n' });
  const result = await loadConfig({ flags: { config: join(dir, 'config.yaml'), kubeconfig: 'kube.conf' } });
  t.ok(result.ok);
  if (!result.ok) return;
  t.equal(result.config.tls.certFile, join(dir, 'certs/tls.crt'));
  t.equal(result.config.tls.keyFile, '/abs/tls.key');
  t.equal(result.config.state, join(dir, 'state'));
  t.equal(result.config.kubeconfig, join(process.cwd(), 'kube.conf'));
});

t.test("the webhook's own namespace is always exempt, and the default one is not when it changed", async (t) => {
  const moved = buildConfig(undefined, { env: { TENANTGUARD_NAMESPACE: 'policy-system' } });
  t.ok(moved.ok);
  if (!moved.ok) return;
  t.same(moved.config.exemptions.namespaces, ['kube-system', 'kube-node-lease', 'policy-system']);
  const explicit = fromYaml('namespace: policy-system\nexemptions: {namespaces: [tenantguard]}');
  t.ok(explicit.ok);
  if (!explicit.ok) return;
  t.same(explicit.config.exemptions.namespaces, ['tenantguard', 'policy-system'], 'an explicit list is kept and completed');
  const defaults = buildConfig(undefined, {});
  t.ok(defaults.ok && defaults.config.exemptions.namespaces.filter((n) => n === 'tenantguard').length === 1, 'listed once');
});

t.test('engineConfigOf hands the engine exemptions, module policies and module settings', async (t) => {
  const result = fromYaml(
    "kubevirt: {serviceAccounts: ['system:serviceaccount:kv:virt-controller']}\ncdi: {serviceAccounts: ['system:serviceaccount:storage:cdi-sa']}\nexemptions: {groups: [breakglass]}",
  );
  t.ok(result.ok);
  if (!result.ok) return;
  const engine = engineConfigOf(result.config);
  t.same(engine.settings, { kubevirtServiceAccounts: ['system:serviceaccount:kv:virt-controller'], cdiServiceAccounts: ['system:serviceaccount:storage:cdi-sa'] });
  t.same(engine.exemptions.groups, ['breakglass']);
  t.equal(engine.modules, result.config.modules);
});

t.test('Tenant spec schema', async (t) => {
  const example = {
    namespaceSelector: { matchLabels: { tenant: 'tenant-a' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] },
    quota: { hard: { 'count/pods': '20', 'count/virtualmachines.kubevirt.io': '5', 'requests.cpu': '10', 'requests.memory': '20Gi', 'limits.cpu': 20, 'limits.memory': '40Gi' }, vmCharging: 'pod' },
    podSecurity: { level: 'restricted', mode: 'enforce' },
    defaults: { seccomp: true, runAsNonRoot: true, dropAllCapabilities: true, allowPrivilegeEscalation: false, seLinuxLevel: 's0:c123,c456' },
    networkPolicy: { mode: 'enforce', require: ['Ingress'] },
    vmSecurity: { mode: 'enforce', allowHostDevices: [], allowHookSidecars: false },
  };
  t.same(validateTenantSpec(example), [], 'the SPEC 4 example is valid');
  t.same(validateTenantSpec({ namespaces: ['a', 'b'] }), [], 'every section is optional');
  t.same(validateTenantSpec({ podSecurity: { level: 'restricted' } }), ['spec.podSecurity.mode: is required']);
  t.same(validateTenantSpec({ networkPolicy: { mode: 'enforce', require: ['Ingress', 'Sideways'] } }), ['spec.networkPolicy.require[1]: must be one of Ingress, Egress, got "Sideways"']);
  t.same(validateTenantSpec({ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Is' }] } }), [
    'spec.namespaceSelector.matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, got "Is"',
  ]);
  t.same(validateTenantSpec({ quota: { hard: { 'limits.memory': '40 GB' } } }), ['spec.quota.hard["limits.memory"]: must be a Kubernetes quantity such as 10, 500m or 20Gi, got "40 GB"']);
  t.same(validateTenantSpec({ namespaces: ['Team_A'] }), ['spec.namespaces[0]: must be a namespace name (DNS-1123 label), got "Team_A"']);
  t.same(validateTenantSpec({ vmSecurity: { mode: 'enforce', allowGpus: true } }), ['spec.vmSecurity.allowGpus: unknown field (known fields: mode, allowHostDevices, allowHookSidecars, allowDedicatedCpu)']);
  t.same(validateTenantSpec(null), ['spec: must be a mapping, got null']);
});

t.test('the loader reads the YAML file it is given', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'modules: {pod-security: {failureMode: sometimes}}\n');
  t.same(errorsOf(await loadConfig({ flags: { config: file } })), ['modules.pod-security.failureMode: must be one of fail, ignore, got "sometimes"']);
});
