// Validating objects against a CustomResourceDefinition's openAPIV3Schema with ajv, the way the
// kube-apiserver applies it: unknown fields refused (kubectl's default strict field validation),
// x-kubernetes-list-type set/map uniqueness checked, the other x-kubernetes-* extensions accepted.
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { run } from '@bufbuild/cel';

export type Schema = Record<string, any>;

/**
 * The schema with unknown fields refused, as kubectl's default strict field validation makes the
 * apiserver do (it would otherwise prune them silently).
 */
export function strictCopy(s: Schema): Schema {
  const out: Schema = { ...s };
  if (s.properties) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, strictCopy(v as Schema)]));
    if (s.additionalProperties === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  }
  if (s.items) out.items = strictCopy(s.items);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') out.additionalProperties = strictCopy(s.additionalProperties);
  return out;
}

/** x-kubernetes-list-type set/map: the apiserver refuses duplicate items / duplicate map keys. */
function listTypeHolds(listType: string, data: unknown, parent: Schema): boolean {
  if (!Array.isArray(data)) return true;
  const keyOf =
    listType === 'set'
      ? (item: unknown) => JSON.stringify(item)
      : listType === 'map'
        ? (item: unknown) => JSON.stringify((parent['x-kubernetes-list-map-keys'] as string[]).map((k) => (item as Record<string, unknown>)[k]))
        : undefined;
  return keyOf === undefined || new Set(data.map(keyOf)).size === data.length;
}

/**
 * Go's RE2 (the apiserver's `pattern` engine) has the (?i) flag group, which JavaScript spells as
 * the i flag (prometheus-operator's CRDs use it as "^(?i)(abort|warn)?$"). Taken as applying to
 * the whole pattern, which is what it does where these CRDs put it.
 */
function re2(pattern: string, flags: string): RegExp {
  return pattern.includes('(?i)') ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags);
}
re2.code = 're2';

interface CelValidation {
  rule: string;
  message?: string;
}

/**
 * x-kubernetes-validations evaluated as the apiserver does, with `self` bound to the value. Transition
 * rules (those that read `oldSelf`) need the stored object and are left to the apiserver.
 */
function celHolds(this: { errors?: Array<Partial<ErrorObject>> } | void, rules: CelValidation[], data: unknown): boolean {
  const failed = rules.filter((r) => !r.rule.includes('oldSelf') && run(r.rule, { self: data as never }) !== true);
  if (failed.length === 0) return true;
  (celHolds as unknown as { errors: Array<Partial<ErrorObject>> }).errors = failed.map((r) => ({
    keyword: 'x-kubernetes-validations',
    message: r.message ?? `failed rule: ${r.rule}`,
    params: { rule: r.rule },
  }));
  return false;
}

/**
 * An ajv instance for CRD schemas. `strict`: refuse schema keywords ajv does not know (for our own
 * CRD, where that is a mistake); off for third-party CRDs, which carry further extensions.
 * x-kubernetes-validations (CEL) are evaluated with @bufbuild/cel.
 */
export function crdAjv(strict: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strictTypes: false, strict, code: { regExp: re2 } });
  addFormatsPlugin.default(ajv);
  for (const keyword of ['x-kubernetes-int-or-string', 'x-kubernetes-map-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource']) {
    ajv.addKeyword({ keyword });
  }
  ajv.addKeyword({ keyword: 'x-kubernetes-validations', schemaType: 'array', errors: true, validate: celHolds });
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-type',
    schemaType: 'string',
    validate: (listType: string, data: unknown, parent?: Schema) => listTypeHolds(listType, data, parent ?? {}),
  });
  return ajv;
}

/** A validator for one CRD schema: the errors, each as "path: message", none when valid. */
export function crdValidator(openAPIV3Schema: Schema, strict = true): (obj: unknown) => string[] {
  const validate = crdAjv(strict).compile(strictCopy(openAPIV3Schema));
  return (obj) => {
    if (validate(obj)) return [];
    return (validate.errors ?? []).map((e: ErrorObject) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
      return `${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
    });
  };
}

// ---- CEL rule cost, as the apiserver estimates it when a CRD is created or updated ----
// Limits: k8s.io/apiextensions-apiserver pkg/apis/apiextensions/validation/validation.go
// (StaticEstimatedCostLimit per rule, times the cardinality of the lists and maps the rule's field
// sits under: getExpressionCost; StaticEstimatedCRDCostLimit for all rules together). Sizes:
// k8s.io/apiserver pkg/cel/common/schemas.go SchemaDeclType (a bound from maxItems/maxProperties/
// maxLength, else what fits in one 3 MiB request; map keys have no size). Costs: cel-go
// checker/cost.go (a comprehension costs its range size times its loop; `in` on a list its size;
// `matches` (string size + 1) * 0.1 * regex length * 0.25; && and || both sides; other calls 1).
// The rule shapes modelled are the ones our CRD uses: one comprehension over self, or none; any
// other shape is refused so that the estimate is never silently low.

export const STATIC_ESTIMATED_COST_LIMIT = 10_000_000;
export const STATIC_ESTIMATED_CRD_COST_LIMIT = 100_000_000;
const MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024;

/** schemas.go: the smallest serialization of a value of the schema. */
function minSerializedSize(s: Schema): number {
  if (s['x-kubernetes-int-or-string']) return 1;
  if (s.type === 'string') return 2;
  if (s.type === 'object' && s.properties) {
    let size = 2;
    for (const name of s.required ?? []) if (s.properties[name] && s.properties[name].default === undefined) size += name.length + minSerializedSize(s.properties[name]) + 4;
    return size;
  }
  if (s.type === 'object' || s.type === 'array') return 2;
  if (s.type === 'boolean') return 4;
  return 1;
}

/** schemas.go: how many items or properties a list or map may hold (declared, or what fits in a request). */
export function maxCardinality(s: Schema): number {
  if (s.type === 'array') return s.maxItems ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSerializedSize(s.items) + 1));
  if (s.type === 'object' && typeof s.additionalProperties === 'object') {
    return s.maxProperties ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSerializedSize(s.additionalProperties) + 6));
  }
  return 1;
}

/** schemas.go: the size of a string (maxLength counted as 4 bytes a character), list or map. */
function maxSize(s: Schema): number {
  if (s.type === 'string' || s['x-kubernetes-int-or-string']) {
    if (s.maxLength !== undefined) return s.maxLength * 4;
    if (s.enum) return Math.max(...s.enum.map((e: unknown) => String(e).length));
    return MAX_REQUEST_SIZE_BYTES - 2;
  }
  return maxCardinality(s);
}

export interface RuleCost {
  path: string;
  rule: string;
  /** The rule's estimated cost times the cardinality of the lists and maps above it. */
  cost: number;
  /** Lists, maps or strings the rule reads or sits under that declare no bound. */
  unbounded: string[];
}

const ceil = Math.ceil;

/** One term of a rule body (no top-level && or ||), with `v` of size `varSize`. */
function termCost(term: string, variable: string, varSize: number, fields: Schema | undefined): number {
  const inList = new RegExp(`^${variable} in \\[(.*)\\]$`).exec(term);
  if (inList) {
    const n = inList[1]!.split(',').length;
    return 1 + 10 + n; // the variable, the list literal (createListBaseCost 10), the containment scan
  }
  const matches = new RegExp(`^${variable}\\.matches\\('((?:[^'\\\\]|\\\\.)*)'\\)$`).exec(term);
  if (matches) {
    const regexLength = matches[1]!.replaceAll('\\\\', '\\').length;
    return 1 + ceil((varSize + 1) * 0.1) * ceil(regexLength * 0.25);
  }
  // A comparison of fields: 1 a call or field selection, string equality by the shorter side.
  if (/\.(all|exists|exists_one|map|filter|matches)\(/.test(term)) throw new Error(`cost of "${term}" is not modelled`);
  let cost = (term.match(/==|!=|>=|<=|[<>]|\bsize\(|\bhas\(|\.[a-zA-Z_]+/g) ?? []).length;
  for (const [, field] of term.matchAll(/self\.([a-zA-Z_]+) == '[^']*'/g)) cost += ceil(Math.min(maxSize(fields?.[field!] ?? {}), 12) * 0.1);
  return cost;
}

/** Splits at top-level && and || (outside parentheses, brackets and quotes). */
function splitLogical(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (depth === 0 && (body.startsWith('&&', i) || body.startsWith('||', i))) {
      parts.push(body.slice(start, i).trim());
      start = i + 2;
      i++;
    }
  }
  parts.push(body.slice(start).trim());
  return parts.map((p) => (p.startsWith('(') && p.endsWith(')') && splitLogical(p.slice(1, -1)).length > 1 && balanced(p.slice(1, -1)) ? p.slice(1, -1) : p));
}

function balanced(s: string): boolean {
  let depth = 0;
  for (const c of s) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth === 0;
}

function bodyCost(body: string, variable: string, varSize: number, fields?: Schema): number {
  const parts = splitLogical(body);
  if (parts.length === 1 && parts[0] === body.trim()) return termCost(body.trim(), variable, varSize, fields);
  return parts.reduce((sum, p) => sum + bodyCost(p, variable, varSize, fields), 0);
}

/** The estimated cost of one rule on a node of schema `s` (without the cardinality above it). */
export function ruleCost(rule: string, s: Schema): number {
  const comprehension = /^self\.(all|exists)\((\w+), (.*)\)$/s.exec(rule.trim());
  if (comprehension) {
    const [, , variable, body] = comprehension;
    const isMap = s.type === 'object' && typeof s.additionalProperties === 'object';
    // Iterating a map binds its keys, which have no declared size; a list binds its items.
    const itemSize = isMap ? 0 : maxSize(s.items ?? {});
    // Per item: the loop condition (1) and step (the accumulator && the body).
    return 1 + maxCardinality(s) * (2 + bodyCost(body!, variable!, itemSize));
  }
  return bodyCost(rule, 'self', maxSize(s), s.properties);
}

/** Every x-kubernetes-validations rule of the schema with its estimated cost and missing bounds. */
export function ruleCosts(root: Schema): RuleCost[] {
  const out: RuleCost[] = [];
  const walk = (s: Schema, path: string, cardinality: number, above: string[]) => {
    for (const [i, { rule }] of ((s['x-kubernetes-validations'] ?? []) as CelValidation[]).entries()) {
      const unbounded = [...above];
      const own = s.type === 'array' ? 'maxItems' : typeof s.additionalProperties === 'object' ? 'maxProperties' : s.type === 'string' && !s.enum ? 'maxLength' : undefined;
      if (own && s[own] === undefined) unbounded.push(`${path}: no ${own}`);
      // What the rule reads below its node: strings and lists it names as self.<field>.
      for (const [, field] of rule.matchAll(/self\.([a-zA-Z_]+)/g)) {
        const f = s.properties?.[field!];
        if (f?.type === 'array' && f.maxItems === undefined) unbounded.push(`${path}.${field}: no maxItems`);
        if (f?.type === 'object' && typeof f.additionalProperties === 'object' && f.maxProperties === undefined) unbounded.push(`${path}.${field}: no maxProperties`);
        if (f?.type === 'string' && !f.enum && f.maxLength === undefined) unbounded.push(`${path}.${field}: no maxLength`);
      }
      out.push({ path: `${path}.x-kubernetes-validations[${i}]`, rule, cost: ruleCost(rule, s) * cardinality, unbounded: [...new Set(unbounded)] });
    }
    for (const [k, p] of Object.entries(s.properties ?? {})) walk(p as Schema, `${path}.${k}`, cardinality, above);
    if (s.items) walk(s.items, `${path}[*]`, cardinality * maxCardinality(s), s.maxItems === undefined ? [...above, `${path}: no maxItems`] : above);
    if (typeof s.additionalProperties === 'object') {
      walk(s.additionalProperties, `${path}[*]`, cardinality * maxCardinality(s), s.maxProperties === undefined ? [...above, `${path}: no maxProperties`] : above);
    }
  };
  walk(root, '', 1, []);
  return out;
}
