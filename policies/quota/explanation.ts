// The explanation a quota denial or warning carries after the built-in quota's own words (SPEC 10):
// for each exceeded resource, the object's charge in its terms (terms.ts, written by the charge
// functions themselves), the tenant's largest consumers of that resource and what is only reserved.
// kubectl prints the whole message, so each resource's part is bounded: at most MAX_TERMS_CHARS of
// terms (the rest counted, not shown) and TOP_CONSUMERS consumers and reservations, about 450
// characters per resource whatever the object (names are DNS names, at most 253 characters).
import { formatMilli, formatUnits } from '../kube/quantity.js';
import type { QuotaConsumer, QuotaConsumers } from '../types.js';
import { isCpu } from './resources.js';
import type { Term } from './terms.js';

export const TOP_CONSUMERS = 3;
export const MAX_TERMS_CHARS = 240;
/** Characters of an object's name shown; a longer one is cut (a name may be 253). */
const MAX_NAME = 63;

/** An amount as the built-in quota prints it, without the resource: "1500m", "12Gi". */
export function formatValue(resource: string, amount: number): string {
  return isCpu(resource) ? formatMilli(amount) : formatUnits(amount);
}

function shortName(name: string): string {
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME - 1)}…`;
}

export function objectLabel(o: Pick<QuotaConsumer, 'kind' | 'namespace' | 'name'>): string {
  return `${o.kind} ${o.namespace}/${shortName(o.name)}`;
}

/** "12Gi guest memory", or the label alone where it already says the amount. */
function part(resource: string, amount: number, label: string): string {
  const value = formatValue(resource, Math.abs(amount));
  return label.includes(value) ? label : `${value} ${label}`;
}

/** One resource's terms, grouped, as a sum: "12Gi guest memory + 310Mi KubeVirt v1.9.0 overhead (220Mi ..., 32Mi ...)". */
export function termsSum(resource: string, terms: readonly Term[], maxChars = MAX_TERMS_CHARS): string {
  const pieces: Array<{ amount: number; text: string }> = [];
  const groups = new Map<string, Term[]>();
  for (const t of terms) {
    const amount = t.amounts[resource];
    if (amount === undefined || amount === 0) continue;
    if (t.group === undefined) pieces.push({ amount, text: part(resource, amount, t.label) });
    else {
      let list = groups.get(t.group);
      if (!list) {
        groups.set(t.group, (list = []));
        // The group's place in the sum is where its first term was.
        pieces.push({ amount: 0, text: t.group });
      }
      list.push(t);
    }
  }
  for (const p of pieces) {
    const members = groups.get(p.text);
    if (!members) continue;
    p.amount = members.reduce((s, t) => s + t.amounts[resource]!, 0);
    p.text = `${formatValue(resource, Math.abs(p.amount))} ${p.text} (${members.map((t) => part(resource, t.amounts[resource]!, t.label)).join(', ')})`;
  }
  let out = '';
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    const next = i === 0 ? (p.amount < 0 ? `- ${p.text}` : p.text) : `${p.amount < 0 ? ' - ' : ' + '}${p.text}`;
    if (out.length + next.length > maxChars && i > 0) {
      out += ` + ${pieces.length - i} more terms`;
      break;
    }
    out += next;
  }
  return out === '' ? '0' : out;
}

function consumerList(resource: string, list: readonly QuotaConsumer[]): string {
  return list.map((c) => `${formatValue(resource, c.amount)} ${objectLabel(c)}`).join(', ');
}

export interface ExceededExplanation {
  resource: string;
  /** What the change adds of it. */
  increase: number;
  /** The object's whole charge of it after the change. */
  charge: number;
}

/**
 * "<resource> <increase> for <subject>: <terms>; largest users now: ...; reserved <total> (...)" for
 * one exceeded resource.
 */
export function explainResource(e: ExceededExplanation, subject: string, terms: readonly Term[], consumers: QuotaConsumers | undefined): string {
  const r = e.resource;
  const whole = e.charge === e.increase ? '' : ` (+${formatValue(r, e.increase)} over what it was charged before)`;
  let out = `${r} of ${subject} = ${formatValue(r, e.charge)}${whole}: ${termsSum(r, terms)}`;
  if (consumers) {
    // A count has no largest users (every object uses one); "none" is said only of an amount.
    const counted = r.startsWith('count/') || r.endsWith('persistentvolumeclaims');
    if (consumers.top.length > 0) out += `; largest users now: ${consumerList(r, consumers.top)}`;
    else if (!counted) out += '; no object uses it now';
    if (consumers.reservedTotal > 0) out += `; reserved, not yet observed: ${formatValue(r, consumers.reservedTotal)} (${consumerList(r, consumers.reserved)})`;
  }
  return out;
}

/** Room for a warning line after the engine's "[tenant-quota] " (SPEC 3: warnings under 120 characters). */
export const WARNING_LINE = 100;

/**
 * A message cut into warning-sized lines at its own separators ("; ", ", ", " + "), so that a
 * warning carries the whole explanation; a piece longer than a line is cut where it must be.
 */
export function warningLines(message: string, width = WARNING_LINE): string[] {
  const lines: string[] = [];
  let line = '';
  for (const piece of message.split(/(?<=; |, | \+ | - )/)) {
    if (line.length + piece.length > width && line !== '') {
      lines.push(line.trimEnd());
      line = '';
    }
    let rest = piece;
    while (rest.length > width) {
      lines.push(rest.slice(0, width));
      rest = rest.slice(width);
    }
    line += rest;
  }
  if (line.trim() !== '') lines.push(line.trimEnd());
  return lines;
}
