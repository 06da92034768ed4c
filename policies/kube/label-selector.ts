// Kubernetes label-selector semantics (apimachinery LabelSelectorAsSelector): every matchLabels
// pair and every matchExpressions requirement must hold; an empty selector matches everything and
// an absent one nothing. A selector apimachinery would reject (In/NotIn without values,
// Exists/DoesNotExist with values, an unknown operator) matches nothing: the API server refuses
// such objects, so matching nothing is the safe reading of one that slipped through, and so do
// shapes it would never store.
//
// Selectors are compiled once per selector object (In/NotIn values become sets) and remembered by
// identity in a WeakMap: objects from the cluster view are replaced, never modified, so a compiled
// selector can never go stale and is dropped with its object.
import type { LabelSelector, LabelSelectorRequirement } from '../types.js';
import { inGrammar, LABEL_KEY, LABEL_KEY_MAX_LENGTH, LABEL_VALUE_MAX_LENGTH, LABEL_VALUE_PATTERN } from './name-grammar.js';

type Labels = Readonly<Record<string, string>>;
type Requirement = (labels: Labels) => boolean;

export interface CompiledSelector {
  matches(labels: Labels | null | undefined): boolean;
  /** Requirements a match evaluates at most: the work one call can cost. */
  cost: number;
}

/** A label every selected object carries: with the values it may have, or the key alone. */
export interface RequiredLabel {
  key: string;
  values: readonly string[] | undefined;
}

/** Larger In lists are indexed by their key only, so an index costs O(1) per selector. */
export const MAX_INDEXED_VALUES = 16;

const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);
const NO_LABELS: Labels = Object.freeze({});
const NOTHING: CompiledSelector = Object.freeze({ matches: () => false, cost: 1 });
const compiled = new WeakMap<object, CompiledSelector>();

function has(labels: Labels, key: string): boolean {
  return Object.hasOwn(labels, key);
}

/** The selector's requirements, or undefined when it is not one apimachinery would accept. */
function expressionsOf(selector: LabelSelector | null | undefined): readonly LabelSelectorRequirement[] | undefined {
  if (!selector || typeof selector !== 'object') return undefined;
  const matchLabels: unknown = selector.matchLabels;
  const expressions: unknown = selector.matchExpressions ?? [];
  if ((matchLabels != null && typeof matchLabels !== 'object') || !Array.isArray(expressions)) return undefined;
  for (const req of expressions as unknown[]) {
    if (req == null || typeof req !== 'object') return undefined;
    const { operator, values } = req as LabelSelectorRequirement;
    if (values != null && !Array.isArray(values)) return undefined;
    const valued = values != null && values.length > 0;
    if (operator === 'In' || operator === 'NotIn' ? !valued : operator === 'Exists' || operator === 'DoesNotExist' ? valued : true) return undefined;
  }
  return expressions as LabelSelectorRequirement[];
}

function requirement({ key, operator, values }: LabelSelectorRequirement): Requirement {
  switch (operator) {
    case 'In': {
      const set = new Set(values);
      return (l) => has(l, key) && set.has(l[key]!);
    }
    case 'NotIn': {
      const set = new Set(values);
      return (l) => !has(l, key) || !set.has(l[key]!);
    }
    case 'Exists':
      return (l) => has(l, key);
    default:
      return (l) => !has(l, key);
  }
}

function compile(selector: LabelSelector): CompiledSelector {
  const expressions = expressionsOf(selector);
  if (expressions === undefined) return NOTHING;
  const requirements: Requirement[] = [];
  const matchLabels = selector.matchLabels;
  if (matchLabels) {
    for (const key in matchLabels) {
      if (!Object.hasOwn(matchLabels, key)) continue;
      const value = matchLabels[key]!;
      requirements.push((l) => has(l, key) && l[key] === value);
    }
  }
  for (const req of expressions) requirements.push(requirement(req));
  const n = requirements.length;
  const matches = (labels: Labels | null | undefined): boolean => {
    const l = labels ?? NO_LABELS;
    for (let i = 0; i < n; i++) if (!requirements[i]!(l)) return false;
    return true;
  };
  return { matches, cost: Math.max(n, 1) };
}

/** The compiled form of a selector (matching nothing for an absent one), computed once per object. */
export function compiledSelector(selector: LabelSelector | null | undefined): CompiledSelector {
  if (!selector || typeof selector !== 'object') return NOTHING;
  let c = compiled.get(selector);
  if (c === undefined) {
    c = compile(selector);
    compiled.set(selector, c);
  }
  return c;
}

/** The work compiling a selector costs: its requirements and their values. */
export function compileCost(selector: LabelSelector | null | undefined): number {
  let cost = 1;
  if (selector && typeof selector === 'object') {
    if (selector.matchLabels && typeof selector.matchLabels === 'object') for (const _ in selector.matchLabels) cost++;
    const expressions: unknown = selector.matchExpressions;
    if (Array.isArray(expressions)) for (const req of expressions) cost += 1 + (Array.isArray(req?.values) ? req.values.length : 0);
  }
  return cost;
}

/**
 * A label every object the selector selects must carry, found without compiling it: a matchLabels
 * pair, an In requirement with at most MAX_INDEXED_VALUES values, or else the key of a larger In
 * or an Exists. Undefined when the selector requires no label (or selects nothing).
 */
export function requiredLabel(selector: LabelSelector | null | undefined): RequiredLabel | undefined {
  const expressions = expressionsOf(selector);
  if (expressions === undefined) return undefined;
  const matchLabels = selector!.matchLabels;
  if (matchLabels) for (const key in matchLabels) if (Object.hasOwn(matchLabels, key)) return { key, values: [matchLabels[key]!] };
  let keyOnly: string | undefined;
  for (const { key, operator, values } of expressions) {
    if (operator === 'In' && values!.length <= MAX_INDEXED_VALUES) return { key, values };
    if (operator === 'In' || operator === 'Exists') keyOnly ??= key;
  }
  return keyOnly === undefined ? undefined : { key: keyOnly, values: undefined };
}

export function selectorMatches(selector: LabelSelector | null | undefined, labels: Record<string, string> | null | undefined): boolean {
  return compiledSelector(selector).matches(labels);
}

/**
 * Why a selector is not one the apiserver would accept (k8s.io/apimachinery
 * pkg/apis/meta/v1/validation/validation.go ValidateLabelSelector): keys must be label keys and
 * values label values; In/NotIn need values, Exists/DoesNotExist take none. Empty when valid. The
 * grammar is the one the Tenant CRD's rules are generated from.
 */
export function selectorProblems(selector: unknown, path: string): string[] {
  if (selector == null || typeof selector !== 'object' || Array.isArray(selector)) return [`${path}: must be an object`];
  const problems: string[] = [];
  const { matchLabels, matchExpressions } = selector as Record<string, unknown>;
  const value = (v: unknown, at: string) => {
    if (typeof v !== 'string' || v.length > LABEL_VALUE_MAX_LENGTH || !LABEL_VALUE.test(v)) problems.push(`${at}: ${JSON.stringify(v)} is not a label value`);
  };
  const key = (k: unknown, at: string) => {
    if (typeof k !== 'string' || k.length > LABEL_KEY_MAX_LENGTH || !inGrammar(LABEL_KEY, k)) problems.push(`${at}: ${JSON.stringify(k)} is not a label key`);
  };
  if (matchLabels != null) {
    if (typeof matchLabels !== 'object' || Array.isArray(matchLabels)) problems.push(`${path}.matchLabels: must be an object`);
    else {
      for (const [k, v] of Object.entries(matchLabels)) {
        key(k, `${path}.matchLabels`);
        value(v, `${path}.matchLabels[${JSON.stringify(k)}]`);
      }
    }
  }
  if (matchExpressions != null) {
    if (!Array.isArray(matchExpressions)) return [...problems, `${path}.matchExpressions: must be a list`];
    matchExpressions.forEach((req: unknown, i) => {
      const at = `${path}.matchExpressions[${i}]`;
      if (req == null || typeof req !== 'object') return problems.push(`${at}: must be an object`);
      const { key: k, operator, values } = req as Record<string, unknown>;
      key(k, `${at}.key`);
      if (values != null && !Array.isArray(values)) return problems.push(`${at}.values: must be a list`);
      const valued = Array.isArray(values) && values.length > 0;
      if (operator === 'In' || operator === 'NotIn') {
        if (!valued) problems.push(`${at}.values: must be non-empty for operator ${operator}`);
      } else if (operator === 'Exists' || operator === 'DoesNotExist') {
        if (valued) problems.push(`${at}.values: must be empty for operator ${operator}`);
      } else problems.push(`${at}.operator: ${JSON.stringify(operator)} is not In, NotIn, Exists or DoesNotExist`);
      (Array.isArray(values) ? values : []).forEach((v, j) => value(v, `${at}.values[${j}]`));
      return undefined;
    });
  }
  return problems;
}
