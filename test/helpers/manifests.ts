// Shared by the manifests tests: reading the YAML under manifests/, building a kustomization with
// `kubectl kustomize`, and rendering the install bundle with a freshly made CA, the way
// `make manifests` does.
import 'reflect-metadata';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createCA } from '../../certs/authority.js';
import { kustomize, renderManifests } from '../../manifests/render.js';
import type { KubeObject } from '../../policies/types.js';

export const MANIFESTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../manifests');

export function parseDocs(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    return doc.toJS() as KubeObject;
  });
}

/** The documents of one file under manifests/ (e.g. 'base/deployment.yaml', 'examples/tenant-a.yaml'). */
export function readManifest(name: string): KubeObject[] {
  return parseDocs(readFileSync(join(MANIFESTS_DIR, name), 'utf8'), name);
}

/** The single document of a file that must hold exactly one. */
export function readOne(name: string): KubeObject {
  const docs = readManifest(name);
  if (docs.length !== 1) throw new Error(`${name}: expected one document, found ${docs.length}`);
  return docs[0]!;
}

export function findDoc(docs: readonly KubeObject[], kind: string): KubeObject {
  const doc = docs.find((d) => d.kind === kind);
  if (!doc) throw new Error(`no ${kind} among ${docs.map((d) => d.kind).join(', ')}`);
  return doc;
}

/** The rendered install bundle (a test CA as caBundle) and the CA it carries. */
export async function renderedInstall(): Promise<{ docs: KubeObject[]; caPem: string; caBundle: string }> {
  const ca = await createCA({ commonName: 'manifests-test-ca', days: 30 });
  const caBundle = Buffer.from(ca.certPem).toString('base64');
  const text = await renderManifests(caBundle);
  return { docs: parseDocs(text, 'install.yaml'), caPem: ca.certPem, caBundle };
}

/** The objects `kubectl kustomize` builds from a directory under manifests/ (e.g. 'overlays/mtls'). */
export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  return parseDocs(await kustomize(join(MANIFESTS_DIR, dir)), dir);
}

/** The overlays under manifests/overlays, by directory name. */
export const OVERLAYS = ['audit', 'cert-manager', 'mtls', 'monitoring'] as const;

/** The object of a kind and name among built objects. */
export function findNamed(docs: readonly KubeObject[], kind: string, name: string): KubeObject {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind} ${name} among ${docs.map((d) => `${d.kind}/${d.metadata?.name}`).join(', ')}`);
  return doc;
}
