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
