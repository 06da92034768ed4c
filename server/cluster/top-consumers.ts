// The largest consumers of each resource, per namespace (SPEC 10: a quota denial names who uses the
// tenant's quota). Kept beside the observed charges as they change: each object's amount of each
// amount-like resource sits in an indexed max-heap of its namespace, so a change costs O(log n) per
// resource it charges, and the top k of a tenant costs O(namespaces * k log k), never a scan of its
// objects. Counts (count/pods, persistentvolumeclaims, ...) are not indexed: every object uses one.
import type { ResourceAmounts } from '../../policies/types.js';

export interface Consumer {
  /** "Kind/name" within the namespace, as the observed usage keys objects. */
  key: string;
  namespace: string;
  amount: number;
}

function isCount(resource: string): boolean {
  return resource.startsWith('count/') || resource.endsWith('persistentvolumeclaims');
}

/** A max-heap of keys by amount that can update or remove any key in O(log n). */
class IndexedMaxHeap {
  private readonly keys: string[] = [];
  private readonly amounts: number[] = [];
  private readonly at = new Map<string, number>();

  get size(): number {
    return this.keys.length;
  }

  set(key: string, amount: number): void {
    const i = this.at.get(key);
    if (i === undefined) {
      this.keys.push(key);
      this.amounts.push(amount);
      this.at.set(key, this.keys.length - 1);
      this.up(this.keys.length - 1);
      return;
    }
    const before = this.amounts[i]!;
    this.amounts[i] = amount;
    if (amount > before) this.up(i);
    else this.down(i);
  }

  delete(key: string): void {
    const i = this.at.get(key);
    if (i === undefined) return;
    const last = this.keys.length - 1;
    this.swap(i, last);
    this.keys.pop();
    this.amounts.pop();
    this.at.delete(key);
    if (i < this.keys.length) {
      this.up(i);
      this.down(i);
    }
  }

  /** The k largest, largest first: a walk of the heap's top through a small frontier. */
  top(k: number): Array<[key: string, amount: number]> {
    const out: Array<[string, number]> = [];
    const frontier: number[] = this.keys.length > 0 ? [0] : [];
    while (out.length < k && frontier.length > 0) {
      let best = 0;
      for (let j = 1; j < frontier.length; j++) if (this.amounts[frontier[j]!]! > this.amounts[frontier[best]!]!) best = j;
      const i = frontier[best]!;
      frontier[best] = frontier[frontier.length - 1]!;
      frontier.pop();
      out.push([this.keys[i]!, this.amounts[i]!]);
      for (const c of [2 * i + 1, 2 * i + 2]) if (c < this.keys.length) frontier.push(c);
    }
    return out;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.amounts[parent]! >= this.amounts[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      let largest = i;
      for (const c of [2 * i + 1, 2 * i + 2]) if (c < this.keys.length && this.amounts[c]! > this.amounts[largest]!) largest = c;
      if (largest === i) return;
      this.swap(i, largest);
      i = largest;
    }
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const k = this.keys[a]!;
    const v = this.amounts[a]!;
    this.keys[a] = this.keys[b]!;
    this.amounts[a] = this.amounts[b]!;
    this.keys[b] = k;
    this.amounts[b] = v;
    this.at.set(this.keys[a]!, a);
    this.at.set(k, b);
  }
}

export class TopConsumers {
  /** namespace -> resource -> heap. */
  private readonly heaps = new Map<string, Map<string, IndexedMaxHeap>>();

  /** One object's charge changed from `old` to `next` (undefined: it had or has none). */
  update(namespace: string, key: string, old: ResourceAmounts | undefined, next: ResourceAmounts | undefined): void {
    let byResource = this.heaps.get(namespace);
    if (old) {
      for (const [r, v] of Object.entries(old)) {
        if (v > 0 && !(next && next[r]! > 0)) byResource?.get(r)?.delete(key);
      }
    }
    if (!next) return;
    for (const [r, v] of Object.entries(next)) {
      if (v <= 0 || isCount(r) || (old && old[r] === v)) continue;
      if (!byResource) this.heaps.set(namespace, (byResource = new Map()));
      let heap = byResource.get(r);
      if (!heap) byResource.set(r, (heap = new IndexedMaxHeap()));
      heap.set(key, v);
    }
  }

  /** The k objects with the most of `resource` across `namespaces`, largest first. */
  top(namespaces: Iterable<string>, resource: string, k: number): Consumer[] {
    const out: Consumer[] = [];
    for (const namespace of namespaces) {
      for (const [key, amount] of this.heaps.get(namespace)?.get(resource)?.top(k) ?? []) out.push({ key, namespace, amount });
    }
    out.sort((a, b) => b.amount - a.amount || (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.key < b.key ? -1 : 1));
    return out.slice(0, k);
  }

  clear(): void {
    this.heaps.clear();
  }
}
