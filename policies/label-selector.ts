// Kubernetes label-selector semantics (apimachinery LabelSelectorAsSelector): every matchLabels
// pair and every matchExpressions requirement must hold; an empty selector matches everything.
import type { LabelSelector, LabelSelectorRequirement } from './types.js';

function requirementHolds(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case 'In':
      return has && (req.values ?? []).includes(labels[req.key]!);
    case 'NotIn':
      return !has || !(req.values ?? []).includes(labels[req.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      // An unknown operator makes the selector invalid; the API server rejects such objects, so
      // matching nothing is the safe reading of one that slipped through.
      return false;
  }
}

export function selectorMatches(selector: LabelSelector | null | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(l, k) || l[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!requirementHolds(req, l)) return false;
  }
  return true;
}
