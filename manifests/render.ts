// Renders the install bundle: a kustomization (manifests/base by default, or an overlay) built by
// `kubectl kustomize`, with the serving CA injected as the webhooks' caBundle. Used by `make manifests`:
//   node --import=tsx manifests/render.ts --ca-bundle FILE --out DIR [--kustomization DIR]
// writes DIR/install.yaml. FILE is the `caBundle` file `tenantguard certs` writes (base64 of the CA
// PEMs) or a PEM file. Webhook configurations whose CA cert-manager injects are left as they are.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { isMap, isSeq, parseAllDocuments, type Document } from 'yaml';

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

/** The install bundle of a kustomization as multi-document YAML, the caBundle set where cert-manager does not inject it. */
export async function renderManifests(caBundle: string, dir: string = BASE_DIR): Promise<string> {
  const parts: string[] = [];
  for (const doc of parseAllDocuments(await kustomize(dir)) as Document[]) {
    if (doc.errors.length > 0) throw new RenderError(`${dir}: ${doc.errors[0]!.message}`);
    const kind = doc.get('kind');
    if (typeof kind !== 'string' || typeof doc.get('apiVersion') !== 'string') {
      throw new RenderError(`${dir}: a document without apiVersion and kind`);
    }
    const injected = doc.getIn(['metadata', 'annotations', CA_INJECTION_ANNOTATION]) !== undefined;
    if (WEBHOOK_KINDS.has(kind) && !injected) injectCaBundle(doc, caBundle, dir);
    parts.push(doc.toString({ directives: false, lineWidth: 0 }));
  }
  return parts.join('---\n');
}

const USAGE = 'usage: node --import=tsx manifests/render.ts --ca-bundle FILE --out DIR [--kustomization DIR]';

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
  if (!values['ca-bundle'] || !values.out) {
    io.stderr.write(`--ca-bundle and --out are required\n${USAGE}\n`);
    return 2;
  }
  try {
    const bundleFile = values['ca-bundle'];
    let bundleText: string;
    try {
      bundleText = await readFile(bundleFile, 'utf8');
    } catch (err) {
      throw new RenderError(`cannot read the CA bundle ${bundleFile}: ${(err as Error).message}`);
    }
    const rendered = await renderManifests(checkCaBundle(bundleText, bundleFile), values.kustomization ?? BASE_DIR);
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
