// Renders the install bundle: a kustomization (manifests/base by default, or an overlay) built by
// `kubectl kustomize`, optionally with a CA injected as the webhooks' caBundle. Used by `make manifests`:
//   node --import=tsx manifests/render.ts [--ca-bundle FILE] --out DIR [--kustomization DIR]
// writes DIR/install.yaml. FILE is the `caBundle` file `tenantguard certs` writes (base64 of the CA
// PEMs) or a PEM file. Rendering never makes a CA: without FILE, the webhooks are left without a
// caBundle when the install sets it at runtime (tenantguard's own certificate management, or
// cert-manager's injector), and rendering fails, saying so, when nothing would. The output depends
// on the kustomization and FILE only.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { isMap, isSeq, parseAllDocuments, type Document } from 'yaml';
import { buildConfig, parseConfigText } from '../server/config-load.js';

export class RenderError extends Error {}

export const MANIFESTS_DIR = dirname(fileURLToPath(import.meta.url));
export const BASE_DIR = join(MANIFESTS_DIR, 'base');
/** The annotation cert-manager's CA injector acts on (manifests/overlays/cert-manager). */
export const CA_INJECTION_ANNOTATION = 'cert-manager.io/inject-ca-from';
const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Checks a caBundle before it is baked into the webhooks: a wrong one fails every admission call
 * (and with failurePolicy Fail, every Pod create), so it is refused here with the reason.
 * Accepts the base64 caBundle or PEM text; returns the base64 caBundle.
 */
export function checkCaBundle(text: string, source: string, now: Date = new Date()): string {
  const trimmed = text.trim();
  if (trimmed === '') throw new RenderError(`${source}: the CA bundle is empty`);
  let pem: string;
  if (trimmed.startsWith('-----BEGIN')) {
    pem = trimmed;
  } else {
    if (!/^[A-Za-z0-9+/\s]+={0,2}$/.test(trimmed)) {
      throw new RenderError(`${source}: neither PEM nor base64 (the caBundle file written by \`tenantguard certs\`)`);
    }
    pem = Buffer.from(trimmed.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  const blocks = pem.match(PEM_BLOCK);
  if (!blocks) throw new RenderError(`${source}: contains no PEM certificate`);
  blocks.forEach((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new RenderError(`${source}: certificate ${i + 1} cannot be parsed: ${(err as Error).message}`);
    }
    if (!cert.ca) throw new RenderError(`${source}: certificate ${i + 1} (${cert.subject}) is not a CA certificate`);
    if (new Date(cert.validTo) <= now) {
      throw new RenderError(`${source}: certificate ${i + 1} (${cert.subject}) expired on ${cert.validTo}`);
    }
  });
  return Buffer.from(`${blocks.join('\n')}\n`).toString('base64');
}

/** Sets clientConfig.caBundle on every webhook of a webhook configuration document. */
function injectCaBundle(doc: Document, caBundle: string, source: string): void {
  const webhooks = doc.get('webhooks');
  const name = String(doc.getIn(['metadata', 'name']));
  if (!isSeq(webhooks) || webhooks.items.length === 0) throw new RenderError(`${source}: ${doc.get('kind')} ${name} has no webhooks`);
  webhooks.items.forEach((hook, i) => {
    const clientConfig = isMap(hook) ? hook.get('clientConfig') : undefined;
    if (!isMap(clientConfig)) throw new RenderError(`${source}: ${doc.get('kind')} ${name}: webhooks[${i}] has no clientConfig`);
    clientConfig.set('caBundle', caBundle);
  });
}

const execFileAsync = promisify(execFile);

/** `kubectl kustomize DIR`: the objects in kustomize's apply order (namespaces and CRDs first, webhooks last). */
export async function kustomize(dir: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('kubectl', ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new RenderError('kubectl is not on PATH: rendering needs `kubectl kustomize` (kubectl >= 1.14)');
    throw new RenderError(`kubectl kustomize ${dir} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/**
 * Whether the rendered tenantguard keeps its webhooks' caBundle itself: its config (the ConfigMap
 * tenantguard-config) as the server loads it, with the Deployment's environment over it.
 */
function selfManagesCertificates(docs: Document[], dir: string): boolean {
  const find = (kind: string, name: string): Document | undefined =>
    docs.find((d) => d.get('kind') === kind && d.getIn(['metadata', 'name']) === name);
  const configMap = find('ConfigMap', 'tenantguard-config');
  const text = configMap?.getIn(['data', 'config.yaml']);
  if (typeof text !== 'string') throw new RenderError(`${dir}: no ConfigMap tenantguard-config with a config.yaml`);
  const env: Record<string, string> = {};
  const containers = (find('Deployment', 'tenantguard')?.getIn(['spec', 'template', 'spec', 'containers']) as { toJSON(): unknown } | undefined)?.toJSON();
  const tenantguard = (containers as Array<{ name: string; env?: Array<{ name: string; value?: string }> }> | undefined)?.find((c) => c.name === 'tenantguard');
  for (const e of tenantguard?.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  const parsed = parseConfigText(text, 'config.yaml');
  const built = parsed.ok ? buildConfig(parsed.value, { env }) : parsed;
  if (!built.ok) throw new RenderError(`${dir}: the ConfigMap tenantguard-config is invalid: ${built.errors.join('; ')}`);
  return built.config.certificates.selfManage;
}

/**
 * The install bundle of a kustomization as multi-document YAML. With `caBundle`, it is set on
 * every webhook cert-manager does not inject; without, the install must set it at runtime.
 */
export async function renderManifests(caBundle: string | undefined, dir: string = BASE_DIR): Promise<string> {
  const docs = parseAllDocuments(await kustomize(dir)) as Document[];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new RenderError(`${dir}: ${doc.errors[0]!.message}`);
    if (typeof doc.get('kind') !== 'string' || typeof doc.get('apiVersion') !== 'string') {
      throw new RenderError(`${dir}: a document without apiVersion and kind`);
    }
  }
  const needingCA = docs.filter((d) => WEBHOOK_KINDS.has(d.get('kind') as string) && d.getIn(['metadata', 'annotations', CA_INJECTION_ANNOTATION]) === undefined);
  if (caBundle !== undefined) {
    for (const doc of needingCA) injectCaBundle(doc, caBundle, dir);
  } else if (needingCA.length > 0 && !selfManagesCertificates(docs, dir)) {
    throw new RenderError(
      `${dir}: no CA given, and nothing in this install sets the webhooks' caBundle (certificates.selfManage is off and cert-manager does not inject it). ` +
        'Keep self-management on (the base), use overlays/cert-manager, or pass the CA that signs the serving certificate: ' +
        '--ca-bundle FILE (make manifests CA_BUNDLE=FILE; `tenantguard certs` writes FILE). Rendering never makes a CA.',
    );
  }
  return docs.map((doc) => doc.toString({ directives: false, lineWidth: 0 })).join('---\n');
}

const USAGE = 'usage: node --import=tsx manifests/render.ts [--ca-bundle FILE] --out DIR [--kustomization DIR]';

export interface RenderIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** CLI entry: 0 written, 1 render failed, 2 bad arguments. */
export async function main(argv: string[], io: RenderIO = process): Promise<number> {
  let values: { 'ca-bundle'?: string; out?: string; kustomization?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { 'ca-bundle': { type: 'string' }, out: { type: 'string' }, kustomization: { type: 'string' } },
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.out || values['ca-bundle'] === '') {
    io.stderr.write(`${values.out ? '--ca-bundle: needs a file' : '--out is required'}\n${USAGE}\n`);
    return 2;
  }
  try {
    const bundleFile = values['ca-bundle'];
    let caBundle: string | undefined;
    if (bundleFile !== undefined) {
      let bundleText: string;
      try {
        bundleText = await readFile(bundleFile, 'utf8');
      } catch (err) {
        throw new RenderError(`cannot read the CA bundle ${bundleFile}: ${(err as Error).message}`);
      }
      caBundle = checkCaBundle(bundleText, bundleFile);
    }
    const rendered = await renderManifests(caBundle, values.kustomization ?? BASE_DIR);
    await mkdir(values.out, { recursive: true });
    const out = join(values.out, 'install.yaml');
    await writeFile(out, rendered);
    io.stdout.write(`wrote ${out}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`${err instanceof RenderError ? err.message : String(err)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
