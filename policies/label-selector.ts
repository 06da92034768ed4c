// Kubernetes label-selector semantics (apimachinery LabelSelectorAsSelector): every matchLabels
// pair and every matchExpressions requirement must hold; an empty selector matches everything and
// an absent one nothing. A selector apimachinery would reject (In/NotIn without values,
// Exists/DoesNotExist with values, an unknown operator) matches nothing: the API server refuses
// such objects, so matching nothing is the safe reading of one that slipped through.
import type { LabelSelector, LabelSelectorRequirement } from './types.js';

function requirementHolds(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const values = req.values;
  switch (req.operator) {
    case 'In':
      if (!values || values.length === 0) return false;
      return has && values.includes(labels[req.key]!);
    case 'NotIn':
      if (!values || values.length === 0) return false;
      return !has || !values.includes(labels[req.key]!);
    case 'Exists':
      return (!values || values.length === 0) && has;
    case 'DoesNotExist':
      return (!values || values.length === 0) && !has;
    default:
      return false;
  }
}

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function selectorMatches(selector: LabelSelector | null | undefined, labels: Record<string, string> | null | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? NO_LABELS;
  const matchLabels = selector.matchLabels;
  if (matchLabels) {
    for (const k in matchLabels) {
      if (!Object.hasOwn(matchLabels, k)) continue;
      if (!Object.hasOwn(l, k) || l[k] !== matchLabels[k]) return false;
    }
  }
  const exprs = selector.matchExpressions;
  if (exprs) {
    for (const req of exprs) if (!requirementHolds(req, l)) return false;
  }
  return true;
}
