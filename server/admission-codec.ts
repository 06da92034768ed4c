// The admission.k8s.io/v1 wire format: parsing the request body, validating the AdmissionReview
// envelope (field names and types from k8s.io/api/admission/v1 types.go), and encoding the
// response exactly as SPEC 3 describes it.
import { Ajv, type ErrorObject } from 'ajv';
import type { AdmissionRequest, AdmissionResponse } from '../policies/types.js';
import type { Decision } from '../policies/engine.js';

export const API_VERSION = 'admission.k8s.io/v1';
export const KIND = 'AdmissionReview';

export interface AdmissionReviewResponse {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  response: AdmissionResponse;
}

const EMPTY_BODY = 'body: is empty; expected an admission.k8s.io/v1 AdmissionReview';

export type DecodeResult = { ok: true; request: AdmissionRequest } | { ok: false; error: string };

const gvk = {
  type: 'object',
  required: ['group', 'version', 'kind'],
  properties: {
    group: { type: 'string' },
    version: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
  },
};

const gvr = {
  type: 'object',
  required: ['group', 'version', 'resource'],
  properties: {
    group: { type: 'string' },
    version: { type: 'string', minLength: 1 },
    resource: { type: 'string', minLength: 1 },
  },
};

// runtime.RawExtension: an embedded object, or JSON null (the apiserver sends `"object": null` on DELETE).
const rawObject = { type: ['object', 'null'] };

const reviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { const: API_VERSION },
    kind: { const: KIND },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'resource', 'operation', 'userInfo'],
      properties: {
        uid: { type: 'string', minLength: 1 },
        kind: gvk,
        resource: gvr,
        subResource: { type: 'string' },
        requestKind: gvk,
        requestResource: gvr,
        requestSubResource: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        userInfo: {
          type: 'object',
          properties: {
            username: { type: 'string' },
            uid: { type: 'string' },
            groups: { type: 'array', items: { type: 'string' } },
            extra: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          },
        },
        object: rawObject,
        oldObject: rawObject,
        dryRun: { type: 'boolean' },
        options: rawObject,
      },
    },
  },
};

// One compiled validator for the process; allErrors off so the first problem is reported cheaply.
const validateReview = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(reviewSchema);

function fieldPath(instancePath: string): string {
  return instancePath === '' ? 'body' : instancePath.slice(1).replaceAll('/', '.').replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

function describe(err: ErrorObject, body: unknown): string {
  const path = fieldPath(err.instancePath);
  switch (err.keyword) {
    case 'required': {
      const missing = (err.params as { missingProperty: string }).missingProperty;
      return `${path === 'body' ? missing : `${path}.${missing}`}: is required`;
    }
    case 'const': {
      const got = err.instancePath === '/apiVersion' ? (body as { apiVersion?: unknown }).apiVersion : (body as { kind?: unknown }).kind;
      return `${path}: must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}, got ${JSON.stringify(got)}`;
    }
    case 'enum':
      return `${path}: must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'minLength':
      return `${path}: must be a non-empty string`;
    case 'type': {
      const expected = (err.params as { type: string | string[] }).type;
      if (path === 'body') return 'body: must be a JSON object (an admission.k8s.io/v1 AdmissionReview)';
      return `${path}: must be ${Array.isArray(expected) ? expected.join(' or ') : `a${/^[aeiou]/.test(expected) ? 'n' : ''} ${expected}`}`;
    }
    default:
      return `${path}: ${err.message ?? 'is invalid'}`;
  }
}

/** Validates a parsed body as an AdmissionReview request; the error names the first offending field. */
export function decodeReview(body: unknown): DecodeResult {
  if (body === undefined || body === null || body === '') {
    return { ok: false, error: EMPTY_BODY };
  }
  if (validateReview(body)) return { ok: true, request: (body as { request: AdmissionRequest }).request };
  return { ok: false, error: describe(validateReview.errors![0]!, body) };
}

export class BodyParseError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly reason: 'bad_json' | 'invalid_review',
    message: string,
  ) {
    super(message);
  }
}

// Keys a hostile body could use to reach Object.prototype once some code merges the object.
// The text is only walked when it could contain one of them (possibly \u-escaped).
const SUSPICIOUS = /__proto__|constructor|\\u00[4-7]/;

interface Pending {
  value: object;
  path: string;
}

/**
 * Depth-first walk with an explicit stack: JSON.parse accepts nesting far deeper than the call
 * stack, so a recursive walk would overflow on a hostile body.
 */
function forbiddenKey(root: unknown): string | undefined {
  if (typeof root !== 'object' || root === null) return undefined;
  const stack: Pending[] = [{ value: root, path: '' }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value, path } = next;
    // Only containers are pushed: leaves cannot hold keys, and their paths need not be built.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) stack.push({ value: item, path: `${path}[${i}]` });
      }
      continue;
    }
    const keys = Object.keys(value);
    for (const key of keys) {
      const child = (value as Record<string, unknown>)[key];
      if (key === '__proto__') return path === '' ? key : `${path}.${key}`;
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) {
        return `${path === '' ? key : `${path}.${key}`}.prototype`;
      }
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, path: path === '' ? key : `${path}.${key}` });
    }
  }
  return undefined;
}

/**
 * The application/json body parser. JSON.parse keeps `__proto__` as an own key (no pollution by
 * itself), but later merges could act on it, so such bodies are refused like secure-json-parse's
 * protoAction 'error' does, with the offending path named.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new BodyParseError('invalid_review', EMPTY_BODY);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BodyParseError('bad_json', `body: is not valid JSON: ${(err as Error).message}`);
  }
  if (SUSPICIOUS.test(text)) {
    const path = forbiddenKey(value);
    if (path !== undefined) throw new BodyParseError('bad_json', `body: forbidden prototype key at ${path}`);
  }
  return value;
}

function hasKeys(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}

/** The AdmissionReview response for a decision: optional fields only when they carry something. */
export function encodeResponse(uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: decision.allowed };
  if (!decision.allowed && decision.status) {
    response.status = { code: decision.status.code, reason: decision.status.reason, message: decision.status.message };
  }
  if (decision.warnings.length > 0) response.warnings = decision.warnings;
  if (hasKeys(decision.auditAnnotations)) response.auditAnnotations = decision.auditAnnotations;
  if (decision.allowed && decision.patch !== undefined && decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: API_VERSION, kind: KIND, response };
}
