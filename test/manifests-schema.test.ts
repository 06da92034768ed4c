// Every manifest `make manifests` installs, and every overlay `kubectl kustomize` builds, is a valid
// Kubernetes object: it passes the Kubernetes OpenAPI schemas (kubernetes-models) and has no field
// the API does not know, which the kube-apiserver would refuse under kubectl's default strict field
// validation (client-node's generated models list every field of every type). The custom kinds of
// the overlays (cert-manager, Prometheus Operator) are checked against their CRDs' schemas
// (test/fixtures/crd-schemas, each naming the file it was taken from).
import * as k8s from '@kubernetes/client-node';
import t from 'tap';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import type { KubeObject } from '../policies/types.js';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { renderManifests } from '../manifests/render.js';
import { crdValidator, type Schema } from './helpers/crd-schema.js';
import { kustomizeBuild, MANIFESTS_DIR, OVERLAYS, parseDocs, readManifest, readOne, renderedInstall } from './helpers/manifests.js';

interface Validatable {
  validate(): void;
}

/** apiVersion/kind -> the kubernetes-models class (its validator) and the client-node model name. */
const MODELS: Record<string, { model: new (data: never) => Validatable; typeName: string }> = {
  'v1/Namespace': { model: Namespace, typeName: 'V1Namespace' },
  'v1/ServiceAccount': { model: ServiceAccount, typeName: 'V1ServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, typeName: 'V1ConfigMap' },
  'v1/Service': { model: Service, typeName: 'V1Service' },
  'apps/v1/Deployment': { model: Deployment, typeName: 'V1Deployment' },
  'batch/v1/CronJob': { model: CronJob, typeName: 'V1CronJob' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, typeName: 'V1PodDisruptionBudget' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { model: ClusterRole, typeName: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { model: ClusterRoleBinding, typeName: 'V1ClusterRoleBinding' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, typeName: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, typeName: 'V1RoleBinding' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, typeName: 'V1NetworkPolicy' },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { model: CustomResourceDefinition, typeName: 'V1CustomResourceDefinition' },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': {
    model: MutatingWebhookConfiguration,
    typeName: 'V1MutatingWebhookConfiguration',
  },
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': {
    model: ValidatingWebhookConfiguration,
    typeName: 'V1ValidatingWebhookConfiguration',
  },
};

interface Attribute {
  baseName: string;
  type: string;
}

function attributesOf(typeName: string): Attribute[] | undefined {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>)[typeName];
  return model?.getAttributeTypeMap?.();
}

/**
 * Paths of fields the API type does not define. JSONSchemaProps' `items` and
 * `additionalProperties` are typed `any` in the generated models but hold nested schemas.
 */
function unknownFields(value: unknown, typeName: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    return typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}[${JSON.stringify(k)}]`)) : [];
  }
  const attributes = attributesOf(typeName);
  if (!attributes || typeof value !== 'object' || Array.isArray(value)) return [];
  const byName = new Map(attributes.map((a) => [a.baseName, a.type]));
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    let childType = byName.get(key);
    if (childType === undefined) {
      out.push(`${path}.${key}`);
      continue;
    }
    if (typeName === 'V1JSONSchemaProps' && (key === 'items' || key === 'additionalProperties') && typeof child === 'object') {
      childType = 'V1JSONSchemaProps';
    }
    out.push(...unknownFields(child, childType, `${path}.${key}`));
  }
  return out;
}

function modelOf(obj: KubeObject): (typeof MODELS)[string] {
  const entry = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!entry) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  return entry;
}

const CRD_SCHEMAS = join(MANIFESTS_DIR, '../test/fixtures/crd-schemas');
/** apiVersion/kind -> the CRD schema's validator, for the custom kinds the overlays create. */
const CUSTOM: Record<string, (obj: unknown) => string[]> = Object.fromEntries(
  ['certificate.cert-manager.io_v1', 'issuer.cert-manager.io_v1', 'servicemonitor.monitoring.coreos.com_v1', 'prometheusrule.monitoring.coreos.com_v1'].map((file) => {
    const crd = JSON.parse(readFileSync(join(CRD_SCHEMAS, `${file}.json`), 'utf8')) as { group: string; version: string; kind: string; openAPIV3Schema: Schema };
    return [`${crd.group}/${crd.version}/${crd.kind}`, crdValidator(crd.openAPIV3Schema, false)];
  }),
);

/** The errors of an object against its Kubernetes or CRD schema, and its unknown fields. */
function allErrors(obj: KubeObject): string[] {
  const custom = CUSTOM[`${obj.apiVersion}/${obj.kind}`];
  if (custom) return custom(obj);
  const errors = schemaErrors(obj);
  return [...(errors === undefined ? [] : [errors]), ...unknownFields(obj, modelOf(obj).typeName, obj.kind!)];
}

function schemaErrors(obj: KubeObject): string | undefined {
  try {
    new (modelOf(obj).model)(obj as never).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const rendered = renderedInstall();

t.test('the install bundle holds every object of the base kustomization, in apply order', async (t) => {
  const { docs } = await rendered;
  const resources = (readOne('base/kustomization.yaml').resources as string[]);
  const expected = resources.flatMap((file) => readManifest(`base/${file}`).map((d) => `${d.kind}/${d.metadata?.name}`));
  t.same(docs.map((d) => `${d.kind}/${d.metadata?.name}`).sort(), expected.sort(), 'every object of every listed file');
  t.equal(docs[0]!.kind, 'Namespace', 'the namespace comes first');
  t.equal(docs[1]!.kind, 'CustomResourceDefinition', 'the CRD comes before anything that could use it');
  t.same(docs.slice(-2).map((d) => d.kind), ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'], 'webhooks last');
});

t.test('every rendered manifest passes the Kubernetes OpenAPI schema of its kind', async (t) => {
  const { docs } = await rendered;
  for (const doc of docs) t.equal(schemaErrors(doc), undefined, `${doc.kind} ${doc.metadata?.name}`);
});

t.test('no rendered manifest has a field its API type does not define', async (t) => {
  const { docs } = await rendered;
  for (const doc of docs) t.same(unknownFields(doc, modelOf(doc).typeName, doc.kind!), [], `${doc.kind} ${doc.metadata?.name}`);
});

t.test('namespaced objects live in the tenantguard namespace; cluster-scoped ones have none', async (t) => {
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
  const { docs } = await rendered;
  for (const doc of docs) {
    t.equal(doc.metadata?.namespace, clusterScoped.has(doc.kind!) ? undefined : 'tenantguard', `${doc.kind} ${doc.metadata?.name}`);
    t.equal(doc.metadata?.labels?.['app.kubernetes.io/name'], 'tenantguard', `${doc.kind} carries the app label`);
  }
});

t.test('the base webhook configurations are valid as they are: no caBundle until tenantguard sets it', async (t) => {
  for (const file of ['base/webhook-mutating.yaml', 'base/webhook-validating.yaml']) {
    const [doc] = readManifest(file);
    t.equal(schemaErrors(doc!), undefined, file);
    t.ok((doc!.webhooks as Array<{ clientConfig: { caBundle?: string } }>).every((h) => h.clientConfig.caBundle === undefined), `${file}: no caBundle`);
  }
});

t.test('the checks catch what they are meant to catch', async (t) => {
  const [deployment] = readManifest('base/deployment.yaml');
  const container = deployment!.spec.template.spec.containers[0];
  container.readinesProbe = container.readinessProbe;
  container.ports[0].containerPort = '8443';
  t.same(unknownFields(deployment, 'V1Deployment', 'Deployment'), ['Deployment.spec.template.spec.containers[0].readinesProbe'], 'a misspelt field');
  t.match(schemaErrors(deployment!), /containerPort must be integer/, 'a string where the API wants an integer');

  const [crd] = readManifest('base/crd-tenant.yaml');
  crd!.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.podSecurity.properties.level.enums = ['restricted'];
  t.same(
    unknownFields(crd, 'V1CustomResourceDefinition', 'CRD'),
    ['CRD.spec.versions[0].schema.openAPIV3Schema.properties["spec"].properties["podSecurity"].properties["level"].enums'],
    'a misspelt schema keyword deep inside the CRD schema',
  );
});

// ---- overlays ----

/** What `make manifests OVERLAY=<dir>` installs: the build with the caBundle rendered in. */
async function installed(dir: string): Promise<KubeObject[]> {
  const { caBundle } = await rendered;
  return parseDocs(await renderManifests(caBundle, dir), dir);
}

/** A kustomization combining every component, as an operator would for cert-manager + mTLS + monitoring. */
async function combined(): Promise<KubeObject[]> {
  const dir = await mkdtemp(join(MANIFESTS_DIR, '../.tap-kustomize-'));
  try {
    const rel = (p: string) => relative(dir, join(MANIFESTS_DIR, p));
    await copyFile(join(MANIFESTS_DIR, 'overlays/monitoring/monitoring-settings.yaml'), join(dir, 'monitoring-settings.yaml'));
    await writeFile(join(dir, 'kustomization.yaml'), `resources: [${rel('base')}, monitoring-settings.yaml]\ncomponents: [${['cert-manager', 'mtls', 'monitoring', 'audit'].map((c) => rel(`components/${c}`)).join(', ')}]\n`);
    return await installed(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

t.test('every overlay, and all components together, build with kubectl kustomize into valid objects', async (t) => {
  const builds: Array<[string, Promise<KubeObject[]>]> = [
    ['base', installed(join(MANIFESTS_DIR, 'base'))],
    ...OVERLAYS.map((o): [string, Promise<KubeObject[]>] => [`overlays/${o}`, installed(join(MANIFESTS_DIR, 'overlays', o))]),
    ['all components', combined()],
  ];
  for (const [name, build] of builds) {
    const docs = await build;
    t.ok(docs.length >= 14, `${name}: ${docs.length} objects`);
    for (const doc of docs) t.same(allErrors(doc), [], `${name}: ${doc.kind} ${doc.metadata?.name}`);
    t.equal(new Set(docs.map((d) => `${d.kind}/${d.metadata?.namespace}/${d.metadata?.name}`)).size, docs.length, `${name}: no object twice`);
  }
});

t.test('the overlays add what they say', async (t) => {
  const kinds = async (o: string) => (await kustomizeBuild(`overlays/${o}`)).map((d) => d.kind).sort();
  const base = (await kustomizeBuild('base')).map((d) => d.kind);
  const added = async (o: string) => {
    const all = await kinds(o);
    for (const k of base) all.splice(all.indexOf(k), 1);
    return all;
  };
  t.same(await added('cert-manager'), ['Certificate', 'Certificate', 'Issuer', 'Issuer']);
  t.same(await added('mtls'), [], 'mtls changes the Deployment only');
  t.same(await added('monitoring'), ['ConfigMap', 'PrometheusRule', 'ServiceMonitor']);
  t.same(await added('audit'), ['ClusterRole', 'ClusterRoleBinding', 'CronJob', 'ServiceAccount']);
});

t.test('the CRD checks catch what they are meant to catch', async (t) => {
  const docs = await kustomizeBuild('overlays/monitoring');
  const rule = structuredClone(docs.find((d) => d.kind === 'PrometheusRule')!);
  rule.spec.groups[0].rules[0].for = 'ten minutes';
  rule.spec.groups[0].rules[0].severity = 'warning';
  t.match(allErrors(rule).sort(), [/\/spec\/groups\/0\/rules\/0\/for: must match pattern/, /\/spec\/groups\/0\/rules\/0: must NOT have additional properties \(severity\)/]);
  const monitor = structuredClone(docs.find((d) => d.kind === 'ServiceMonitor')!);
  monitor.spec.endpoints[0].port = 9090;
  t.match(allErrors(monitor), [/\/spec\/endpoints\/0\/port: must be string/]);
  const certificate = structuredClone((await kustomizeBuild('overlays/cert-manager')).find((d) => d.kind === 'Certificate')!);
  delete certificate.spec.secretName;
  t.match(allErrors(certificate), [/\/spec: must have required property 'secretName'/]);
});
