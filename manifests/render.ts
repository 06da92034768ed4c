// Renders the install bundle: every manifest of this directory in apply order, as one multi-document
// YAML file, with the serving CA injected as the webhooks' caBundle. Used by `make manifests`:
//   node --import=tsx manifests/render.ts --ca-bundle FILE --out DIR   (writes DIR/install.yaml)
// FILE is the `caBundle` file `tenantguard certs` writes (base64 of the CA PEMs) or a PEM file.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isMap, isScalar, isSeq, parseAllDocuments, type Document } from 'yaml';

export class RenderError extends Error {}

/** Apply order: the namespace and the CRD first, the webhooks last so they never gate their own install. */
export const INSTALL_ORDER = [
  'namespace.yaml',
  'crd-tenant.yaml',
  'serviceaccount.yaml',
  'rbac.yaml',
  'config.yaml',
  'service.yaml',
  'deployment.yaml',
  'pdb.yaml',
  'webhook-mutating.yaml',
  'webhook-validating.yaml',
] as const;

export const MANIFESTS_DIR = dirname(fileURLToPath(import.meta.url));
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

/**
 * Sets clientConfig.caBundle on every webhook of a webhook configuration document, replacing the
 * placeholder's comment (which explains the placeholder) with one that says where the value came from.
 */
function injectCaBundle(doc: Document, caBundle: string, file: string): void {
  const webhooks = doc.get('webhooks');
  if (!isSeq(webhooks) || webhooks.items.length === 0) throw new RenderError(`${file}: webhook configuration without webhooks`);
  webhooks.items.forEach((hook, i) => {
    const clientConfig = isMap(hook) ? hook.get('clientConfig') : undefined;
    if (!isMap(clientConfig)) throw new RenderError(`${file}: webhooks[${i}] has no clientConfig`);
    clientConfig.set('caBundle', caBundle);
    const key = clientConfig.items.find((pair) => isScalar(pair.key) && pair.key.value === 'caBundle')!.key;
    if (isScalar(key)) key.commentBefore = ' The serving CA, injected by manifests/render.ts.';
  });
}

/** The install bundle as multi-document YAML, comments kept. */
export async function renderManifests(caBundle: string, dir: string = MANIFESTS_DIR): Promise<string> {
  const parts: string[] = [];
  for (const name of INSTALL_ORDER) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new RenderError(`cannot read ${file}: ${(err as Error).message}`);
    }
    for (const doc of parseAllDocuments(text) as Document[]) {
      if (doc.errors.length > 0) throw new RenderError(`${file}: ${doc.errors[0]!.message}`);
      const kind = doc.get('kind');
      if (typeof kind !== 'string' || typeof doc.get('apiVersion') !== 'string') {
        throw new RenderError(`${file}: a document without apiVersion and kind`);
      }
      if (WEBHOOK_KINDS.has(kind)) injectCaBundle(doc, caBundle, file);
      parts.push(`# Source: manifests/${name}\n${doc.toString({ directives: false, flowCollectionPadding: false, lineWidth: 0 })}`);
    }
  }
  return parts.join('---\n');
}

const USAGE = 'usage: node --import=tsx manifests/render.ts --ca-bundle FILE --out DIR [--manifests DIR]';

export interface RenderIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** CLI entry: 0 written, 1 render failed, 2 bad arguments. */
export async function main(argv: string[], io: RenderIO = process): Promise<number> {
  let values: { 'ca-bundle'?: string; out?: string; manifests?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { 'ca-bundle': { type: 'string' }, out: { type: 'string' }, manifests: { type: 'string' } },
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
    const rendered = await renderManifests(checkCaBundle(bundleText, bundleFile), values.manifests ?? MANIFESTS_DIR);
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
