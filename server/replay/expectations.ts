// The replay expectations file: what each fixture's review must decide. A YAML map from fixture
// path (relative to the expectations file; "#<index>" selects one review of a multi-review file)
// to the expected outcome. Validated with ajv; compared against the outcome of each review.
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import type { KubeObject, PatchOp } from '../../policies/types.js';
import { InputError, readText } from './inputs.js';

export interface Expectation {
  /** What the fixture proves; shown nowhere, for the reader of the file. */
  description?: string;
  allowed?: boolean;
  /** Fragments that must all appear in the denial message. */
  messages?: string[];
  /** Fragments each matched by some warning; an empty list means no warnings at all. */
  warnings?: string[];
  /** Fragments no warning may contain. */
  absentWarnings?: string[];
  /** Fields the object must have after mutation (deep-partial; null means absent). */
  patched?: Record<string, unknown>;
  /** The exact JSONPatch; an empty list means no patch. */
  patch?: PatchOp[];
  /** Annotation key -> fragment its value must contain; an empty map means none at all. */
  auditAnnotations?: Record<string, string>;
}

/** What one review decided, from the in-process engine or from a running webhook. */
export interface ReviewOutcome {
  allowed: boolean;
  code?: number;
  message?: string;
  warnings: string[];
  auditAnnotations: Record<string, string>;
  patch?: PatchOp[];
  /** The object after mutation (the request's object when nothing was patched). */
  patchedObject?: KubeObject;
}

const fragments = { type: 'array', items: { type: 'string' } } as const;

const SCHEMA = {
  type: 'object',
  propertyNames: { pattern: '^[^#]+(#(0|[1-9][0-9]*))?$' },
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    properties: {
      description: { type: 'string' },
      allowed: { type: 'boolean' },
      messages: fragments,
      warnings: fragments,
      absentWarnings: fragments,
      patched: { type: 'object' },
      patch: {
        type: 'array',
        items: {
          type: 'object',
          required: ['op', 'path'],
          additionalProperties: false,
          properties: {
            op: { enum: ['add', 'remove', 'replace', 'move', 'copy', 'test'] },
            path: { type: 'string', pattern: '^(/.*)?$' },
            from: { type: 'string' },
            value: {},
          },
        },
      },
      auditAnnotations: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(SCHEMA);

export interface LoadedExpectations {
  /** Absolute fixture path -> (index or undefined for the whole file) -> expectation. */
  byFile: Map<string, Map<number | undefined, Expectation>>;
  /** Directory the keys are relative to. */
  base: string;
  /** The key as written, for reporting expectations that match no fixture. */
  keyOf(file: string, index: number | undefined): string;
}

/** "pods/a.yaml".patch[0].op, from ajv's JSON pointer. */
function readablePath(instancePath: string): string {
  const segments = instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (segments.length === 0) return '(top level)';
  let out = JSON.stringify(segments[0]);
  for (const s of segments.slice(1)) out += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  return out;
}

function describeError(e: ErrorObject): string {
  const at = readablePath(e.instancePath);
  if (e.keyword === 'additionalProperties') return `${at}: unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'enum') return `${at}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  if (e.propertyName !== undefined) return `key ${JSON.stringify(e.propertyName)}: must be a fixture path, optionally followed by #<index>`;
  return `${at}: ${e.message ?? 'is invalid'}`;
}

export async function loadExpectations(file: string): Promise<LoadedExpectations> {
  const text = await readText(file);
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new InputError(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  data ??= {};
  if (!validate(data)) {
    // ajv reports a bad key twice: as the failing pattern (naming the key) and as propertyNames.
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'propertyNames');
    throw new InputError(`${file}: invalid expectations:\n  ${errors.map(describeError).join('\n  ')}`);
  }
  const base = dirname(resolve(file));
  const byFile = new Map<string, Map<number | undefined, Expectation>>();
  const keys = new Map<string, string>();
  for (const [key, exp] of Object.entries(data as Record<string, Expectation>)) {
    const hash = key.lastIndexOf('#');
    const path = hash < 0 ? key : key.slice(0, hash);
    const index = hash < 0 ? undefined : Number(key.slice(hash + 1));
    const abs = resolve(base, path);
    let entries = byFile.get(abs);
    if (!entries) byFile.set(abs, (entries = new Map()));
    entries.set(index, exp);
    keys.set(`${abs}#${index ?? ''}`, key);
  }
  return { byFile, base, keyOf: (f, i) => keys.get(`${f}#${i ?? ''}`) ?? f };
}

/** The expectation for one review: "file#index" wins over "file". */
export function expectationFor(loaded: LoadedExpectations | undefined, file: string, index: number): Expectation | undefined {
  const entries = loaded?.byFile.get(file);
  return entries?.get(index) ?? entries?.get(undefined);
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length <= 80 ? text : `${text.slice(0, 79)}…`;
}

/** First difference between an expected deep-partial value and the actual one, or undefined. */
export function partialMismatch(expected: unknown, actual: unknown, path: string): string | undefined {
  if (expected === null) return actual === null || actual === undefined ? undefined : `${path}: expected absent, got ${show(actual)}`;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected a list, got ${show(actual)}`;
    if (actual.length !== expected.length) return `${path}: expected ${expected.length} items, got ${actual.length}: ${show(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const m = partialMismatch(expected[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  if (typeof expected === 'object') {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return `${path}: expected an object, got ${show(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const m = partialMismatch(v, (actual as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (m) return m;
    }
    return undefined;
  }
  return expected === actual ? undefined : `${path}: expected ${show(expected)}, got ${show(actual)}`;
}

/** Every way the outcome differs from the expectation, most decisive first. */
export function mismatches(exp: Expectation, out: ReviewOutcome): string[] {
  const found: string[] = [];
  if (exp.allowed !== undefined && exp.allowed !== out.allowed) {
    found.push(exp.allowed ? `expected allowed, was denied: ${out.message ?? '(no message)'}` : 'expected denied, was allowed');
  }
  for (const fragment of exp.messages ?? []) {
    if (out.allowed) found.push(`expected a denial message containing ${show(fragment)}, but the request was allowed`);
    else if (!(out.message ?? '').includes(fragment)) found.push(`denial message lacks ${show(fragment)}: ${out.message ?? '(none)'}`);
  }
  if (exp.warnings?.length === 0 && out.warnings.length > 0) found.push(`expected no warnings, got ${show(out.warnings)}`);
  for (const fragment of exp.warnings ?? []) {
    if (!out.warnings.some((w) => w.includes(fragment))) found.push(`no warning contains ${show(fragment)}; warnings: ${show(out.warnings)}`);
  }
  for (const fragment of exp.absentWarnings ?? []) {
    const hit = out.warnings.find((w) => w.includes(fragment));
    if (hit !== undefined) found.push(`unexpected warning containing ${show(fragment)}: ${show(hit)}`);
  }
  if (exp.patch !== undefined) {
    const actual = out.patch ?? [];
    if (!isDeepStrictEqual(exp.patch, actual)) {
      const i = exp.patch.findIndex((op, n) => !isDeepStrictEqual(op, actual[n]));
      found.push(
        i < 0
          ? `patch has ${actual.length - exp.patch.length} more operation(s) than expected: ${show(actual.slice(exp.patch.length))}`
          : `patch[${i}]: expected ${show(exp.patch[i])}, got ${show(actual[i])}`,
      );
    }
  }
  if (exp.patched !== undefined) {
    const m = partialMismatch(exp.patched, out.patchedObject, '');
    if (m) found.push(`patched object ${m}`);
  }
  if (exp.auditAnnotations !== undefined) {
    const expectedKeys = Object.entries(exp.auditAnnotations);
    if (expectedKeys.length === 0 && Object.keys(out.auditAnnotations).length > 0) {
      found.push(`expected no audit annotations, got ${show(out.auditAnnotations)}`);
    }
    for (const [key, fragment] of expectedKeys) {
      const value = out.auditAnnotations[key];
      if (value === undefined) found.push(`audit annotation ${key} missing; have ${show(Object.keys(out.auditAnnotations))}`);
      else if (!value.includes(fragment)) found.push(`audit annotation ${key} lacks ${show(fragment)}: ${show(value)}`);
    }
  }
  return found;
}
