// Loading the server config (SPEC 4): DEFAULT_CONFIG < YAML file < TENANTGUARD_* env < CLI flags,
// validated once as a whole with a JSON Schema whose errors name the exact field. Also exports the
// Tenant spec schema, so the CRD, the live view and the config share one definition of a tenant.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { certificatesSchema, certificateTimings } from '../certs/certificate-settings.js';
import type { EngineConfig } from '../policies/engine.js';
import { DEFAULT_CONFIG, type LogLevel, type ServerConfig } from './config.js';

export type LoadResult = { ok: true; config: ServerConfig } | { ok: false; errors: string[] };

/** Values as the CLI parser hands them over (strings); converted and checked here. */
export interface ConfigFlags {
  config?: string;
  host?: string;
  port?: string;
  'metrics-port'?: string;
  'log-level'?: string;
  state?: string;
  kubeconfig?: string;
  cert?: string;
  key?: string;
  'client-ca'?: string;
  namespace?: string;
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MODES = ['enforce', 'warn', 'audit'];
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
// k8s.io/apimachinery resource.Quantity as the apiserver's int-or-string pattern states it.
const QUANTITY = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

const labelSelectorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1 },
          operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: stringList,
        },
      },
    },
  },
};

/** The per-tenant settings; a Tenant adds which namespaces it owns, defaultTenant does not. */
const tenantSettingsProperties = {
  quota: {
    type: 'object',
    additionalProperties: false,
    properties: {
      hard: {
        type: 'object',
        propertyNames: {
          pattern: '^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$',
          description: 'a resource name such as requests.cpu or count/pods',
        },
        additionalProperties: {
          type: ['string', 'integer'],
          pattern: QUANTITY,
          minimum: 0,
          description: 'a Kubernetes quantity such as 10, 500m or 20Gi',
        },
      },
      vmCharging: { enum: ['pod', 'guest'] },
      defaultRequests: {
        type: 'object',
        additionalProperties: false,
        description: 'charged in place of the cpu/memory requests a pod leaves out',
        properties: Object.fromEntries(
          ['cpu', 'memory'].map((name) => [name, { type: ['string', 'integer'], pattern: QUANTITY, minimum: 0, description: 'a Kubernetes quantity' }]),
        ),
      },
    },
  },
  podSecurity: {
    type: 'object',
    additionalProperties: false,
    required: ['level', 'mode'],
    properties: {
      level: { enum: ['privileged', 'baseline', 'restricted'] },
      mode: { enum: MODES },
      version: { type: 'string', pattern: '^(latest|v1\\.[0-9]+)$', description: 'latest or v1.<minor>' },
    },
  },
  defaults: {
    type: 'object',
    additionalProperties: false,
    properties: {
      seccomp: { type: 'boolean' },
      runAsNonRoot: { type: 'boolean' },
      dropAllCapabilities: { type: 'boolean' },
      allowPrivilegeEscalation: { type: 'boolean' },
      seLinuxLevel: { type: 'string', minLength: 1 },
    },
  },
  networkPolicy: {
    type: 'object',
    additionalProperties: false,
    required: ['mode'],
    properties: {
      mode: { enum: [...MODES, 'off'] },
      require: { type: 'array', uniqueItems: true, items: { enum: ['Ingress', 'Egress'] } },
    },
  },
  vmSecurity: {
    type: 'object',
    additionalProperties: false,
    required: ['mode'],
    properties: {
      mode: { enum: [...MODES, 'off'] },
      allowHostDevices: stringList,
      allowHookSidecars: { type: 'boolean' },
      allowDedicatedCpu: { type: 'boolean' },
    },
  },
};

/** JSON Schema of tenantguard.io/v1alpha1 Tenant `spec` (TenantSpec). */
export const tenantSpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespaceSelector: labelSelectorSchema,
    namespaces: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: DNS_LABEL, description: 'a namespace name (DNS-1123 label)' } },
    ...tenantSettingsProperties,
  },
};

const modulePolicySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['failureMode', 'timeoutMs', 'enabled'],
  properties: {
    failureMode: { enum: ['fail', 'ignore'] },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 30_000 },
    enabled: { type: 'boolean' },
  },
};

const port = { type: 'integer', minimum: 0, maximum: 65_535 };
const filePath = { type: 'string', minLength: 1 };

/** JSON Schema of the complete server config (after merging every source). */
export const serverConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['listen', 'tls', 'metrics', 'logLevel', 'bodyLimitBytes', 'namespace', 'exemptions', 'modules', 'reviewDeadlineMs', 'defaultTenant', 'kubevirt', 'cdi', 'quota', 'shutdownGraceMs'],
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'port'],
      properties: { host: { type: 'string', minLength: 1 }, port },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { certFile: filePath, keyFile: filePath, clientCAFile: filePath },
      dependencies: { certFile: ['keyFile'], keyFile: ['certFile'] },
    },
    metrics: { type: 'object', additionalProperties: false, properties: { port } },
    logLevel: { enum: LOG_LEVELS },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 },
    state: filePath,
    kubeconfig: filePath,
    namespace: { type: 'string', pattern: DNS_LABEL, description: 'a namespace name (DNS-1123 label)' },
    exemptions: {
      type: 'object',
      additionalProperties: false,
      required: ['namespaces', 'usernames', 'groups'],
      properties: { namespaces: stringList, usernames: stringList, groups: stringList },
    },
    modules: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(Object.keys(DEFAULT_CONFIG.modules).map((name) => [name, modulePolicySchema])),
    },
    // A webhook's timeoutSeconds is at most 30 (admissionregistration/v1 validation).
    reviewDeadlineMs: {
      type: 'object',
      additionalProperties: false,
      required: ['mutate', 'validate'],
      properties: { mutate: { type: 'integer', minimum: 100, maximum: 29_000 }, validate: { type: 'integer', minimum: 100, maximum: 29_000 } },
    },
    defaultTenant: { type: 'object', additionalProperties: false, properties: tenantSettingsProperties },
    kubevirt: {
      type: 'object',
      additionalProperties: false,
      required: ['serviceAccounts'],
      properties: { serviceAccounts: stringList },
    },
    cdi: {
      type: 'object',
      additionalProperties: false,
      required: ['serviceAccounts'],
      properties: { serviceAccounts: stringList },
    },
    quota: {
      type: 'object',
      additionalProperties: false,
      required: ['reservationTTLSeconds', 'maxReservationsPerTenant', 'reconcileIntervalSeconds', 'grantLeaseSeconds'],
      properties: {
        reservationTTLSeconds: { type: 'integer', minimum: 5, maximum: 3600 },
        maxReservationsPerTenant: { type: 'integer', minimum: 1, maximum: 5000 },
        reconcileIntervalSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
        grantLeaseSeconds: { type: 'integer', minimum: 10, maximum: 3600 },
      },
    },
    shutdownGraceMs: { type: 'integer', minimum: 0, maximum: 600_000 },
    certificates: certificatesSchema,
  },
};

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
const validateServerConfig: ValidateFunction = ajv.compile(serverConfigSchema);
const validateTenant: ValidateFunction = ajv.compile(tenantSpecSchema);

function segmentsOf(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `modules.pod-security.failureMode`, `exemptions.namespaces[1]`, `quota.hard["count/pods"]`. */
function displayPath(root: string, segments: readonly string[]): string {
  let out = root;
  for (const s of segments) {
    if (/^[0-9]+$/.test(s)) out += `[${s}]`;
    else if (/^[A-Za-z_][-A-Za-z0-9_]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out === '' ? '(top level)' : out;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

function describe(root: string, e: ErrorObject): string | undefined {
  const segments = segmentsOf(e.instancePath);
  const at = displayPath(root, segments);
  const child = (name: string): string => displayPath(root, [...segments, name]);
  const hint = (e.parentSchema as { description?: string } | undefined)?.description;
  if (e.propertyName !== undefined) {
    return `${at}: key ${JSON.stringify(e.propertyName)} is not valid${hint ? `: must be ${hint}` : ` (${e.message})`}`;
  }
  switch (e.keyword) {
    case 'enum':
      return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}, got ${shown(e.data)}`;
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      return `${child(extra)}: unknown field${known.length > 0 ? ` (known fields: ${known.join(', ')})` : ''}`;
    }
    case 'required':
      return `${child((e.params as { missingProperty: string }).missingProperty)}: is required`;
    case 'dependencies': {
      const p = e.params as { property: string; missingProperty: string };
      return `${child(p.missingProperty)}: is required when ${child(p.property)} is set`;
    }
    case 'type': {
      const wanted = [(e.params as { type: string | string[] }).type].flat().map((t) => TYPE_WORDS[t] ?? t);
      return `${at}: must be ${wanted.join(' or ')}, got ${typeName(e.data)}`;
    }
    case 'pattern':
      return `${at}: must be ${hint ?? `a string matching ${(e.params as { pattern: string }).pattern}`}, got ${shown(e.data)}`;
    case 'propertyNames':
      return undefined;
    default:
      return `${at}: ${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${shown(e.data)}` : ''}`;
  }
}

function errorsOf(validate: ValidateFunction, root: string): string[] {
  const out: string[] = [];
  for (const e of validate.errors ?? []) {
    const line = describe(root, e);
    if (line !== undefined && !out.includes(line)) out.push(line);
  }
  return out;
}

/** Validates a Tenant's spec; error paths start with `spec.`. Empty when valid. */
export function validateTenantSpec(spec: unknown): string[] {
  return validateTenant(spec) ? [] : errorsOf(validateTenant, 'spec');
}

/** Validates a complete server config. Empty when valid. */
export function validateConfig(config: unknown): string[] {
  return validateServerConfig(config) ? [] : errorsOf(validateServerConfig, '');
}

export type ParsedFile = { ok: true; value: Record<string, unknown> } | { ok: false; errors: string[] };

/** Parses the YAML config file's text; relative paths in it are taken relative to the file. */
export function parseConfigText(text: string, file: string): ParsedFile {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`) };
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return { ok: true, value: {} };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, errors: [`${file}: must be a YAML mapping of config fields, got ${typeName(value)}`] };
  }
  const obj = value as Record<string, any>;
  const base = dirname(resolve(file));
  const relative = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? resolve(base, v) : v);
  if (obj.tls && typeof obj.tls === 'object') {
    for (const k of ['certFile', 'keyFile', 'clientCAFile']) if (k in obj.tls) obj.tls[k] = relative(obj.tls[k]);
  }
  for (const k of ['state', 'kubeconfig']) if (k in obj) obj[k] = relative(obj[k]);
  return { ok: true, value: obj };
}

type Parse = (raw: string) => { value: unknown } | { error: string };

const asPort: Parse = (raw) =>
  /^[0-9]{1,5}$/.test(raw) && Number(raw) <= 65_535 ? { value: Number(raw) } : { error: `must be an integer from 0 to 65535, got "${raw}"` };
const asText: Parse = (raw) => ({ value: raw });
const asPath: Parse = (raw) => ({ value: resolve(raw) });
const asBoolean: Parse = (raw) => (raw === 'true' || raw === 'false' ? { value: raw === 'true' } : { error: `must be true or false, got "${raw}"` });
const asLogLevel: Parse = (raw) =>
  (LOG_LEVELS as string[]).includes(raw) ? { value: raw } : { error: `must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"` };

interface Override {
  env: string;
  /** Absent: set by the environment only. */
  flag?: keyof ConfigFlags;
  path: string[];
  parse: Parse;
}

const OVERRIDES: Override[] = [
  { env: 'TENANTGUARD_HOST', flag: 'host', path: ['listen', 'host'], parse: asText },
  { env: 'TENANTGUARD_PORT', flag: 'port', path: ['listen', 'port'], parse: asPort },
  { env: 'TENANTGUARD_METRICS_PORT', flag: 'metrics-port', path: ['metrics', 'port'], parse: asPort },
  { env: 'TENANTGUARD_LOG_LEVEL', flag: 'log-level', path: ['logLevel'], parse: asLogLevel },
  { env: 'TENANTGUARD_STATE', flag: 'state', path: ['state'], parse: asPath },
  { env: 'TENANTGUARD_KUBECONFIG', flag: 'kubeconfig', path: ['kubeconfig'], parse: asPath },
  { env: 'TENANTGUARD_TLS_CERT', flag: 'cert', path: ['tls', 'certFile'], parse: asPath },
  { env: 'TENANTGUARD_TLS_KEY', flag: 'key', path: ['tls', 'keyFile'], parse: asPath },
  { env: 'TENANTGUARD_CLIENT_CA', flag: 'client-ca', path: ['tls', 'clientCAFile'], parse: asPath },
  { env: 'TENANTGUARD_NAMESPACE', flag: 'namespace', path: ['namespace'], parse: asText },
  // An install component that brings its own certificates (cert-manager) turns self-management off.
  { env: 'TENANTGUARD_SELF_MANAGE_CERTIFICATES', path: ['certificates', 'selfManage'], parse: asBoolean },
];

/** Environment variables the loader reads, for --help. */
export const CONFIG_ENV_VARS: readonly string[] = ['TENANTGUARD_CONFIG', ...OVERRIDES.map((o) => o.env)];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars from `over` replace what `base` had. */
function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** The file to load: --config, else TENANTGUARD_CONFIG, else none (defaults, env and flags only). */
export function configFileOf(sources: ConfigSources): string | undefined {
  const file = sources.flags?.config ?? nonEmpty(sources.env?.TENANTGUARD_CONFIG);
  return file === undefined ? undefined : resolve(file);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Merges the layers over DEFAULT_CONFIG and validates the result. `file` is the parsed YAML. */
export function buildConfig(file: Record<string, unknown> | undefined, sources: ConfigSources): LoadResult {
  const errors: string[] = [];
  const overrides: Record<string, unknown> = {};
  for (const layer of ['env', 'flags'] as const) {
    for (const o of OVERRIDES) {
      const raw = layer === 'env' ? nonEmpty(sources.env?.[o.env]) : o.flag === undefined ? undefined : sources.flags?.[o.flag];
      if (raw === undefined) continue;
      const parsed = o.parse(raw);
      if ('error' in parsed) errors.push(`${layer === 'env' ? o.env : `--${o.flag}`}: ${parsed.error}`);
      else setPath(overrides, o.path, parsed.value);
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const merged = merge(merge(structuredClone(DEFAULT_CONFIG), structuredClone(file ?? {})), overrides);
  const invalid = validateConfig(merged);
  if (invalid.length > 0) return { ok: false, errors: invalid };
  const config = merged as ServerConfig;
  const timings = certificateTimings(config.certificates);
  if (!timings.ok) return { ok: false, errors: timings.errors };

  // The default exemption list names the default namespace; follow the configured one instead,
  // and always exempt the webhook's own namespace so it can never block its own rollout.
  const fileExemptions = isPlainObject(file?.exemptions) ? file.exemptions : {};
  if (!('namespaces' in fileExemptions)) {
    config.exemptions.namespaces = config.exemptions.namespaces.filter((n) => n !== DEFAULT_CONFIG.namespace);
  }
  if (!config.exemptions.namespaces.includes(config.namespace)) config.exemptions.namespaces.push(config.namespace);
  return { ok: true, config };
}

/** Reads the config file (when one is named), merges every source and validates. */
export async function loadConfig(sources: ConfigSources): Promise<LoadResult> {
  const file = configFileOf(sources);
  if (file === undefined) return buildConfig(undefined, sources);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`cannot read config file ${file}: ${(err as Error).message}`] };
  }
  const parsed = parseConfigText(text, file);
  return parsed.ok ? buildConfig(parsed.value, sources) : parsed;
}

/** The part of the server config the engine reads; swapped atomically on reload. */
export function engineConfigOf(config: ServerConfig): EngineConfig {
  return {
    exemptions: config.exemptions,
    modules: config.modules,
    reviewDeadlineMs: config.reviewDeadlineMs,
    settings: { kubevirtServiceAccounts: config.kubevirt.serviceAccounts, cdiServiceAccounts: config.cdi.serviceAccounts },
  };
}

