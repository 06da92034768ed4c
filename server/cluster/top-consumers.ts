// The largest consumers of each resource, per namespace (SPEC 10: a quota denial names who uses the
// tenant's quota). Kept beside the observed charges as they change: each object's amount of each
// amount-like resource sits in a max-heap of its namespace, so a change costs O(log n) per resource
// it charges, and the top k of a tenant costs O(namespaces * k^2) with k small, never a scan of its
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

/** One object in a namespace's heaps: its position per resource slot (-1: not in that heap). */
interface Entry {
  key: string;
  at: number[];
}

/** A max-heap of entries by amount; the amounts sit beside the entries (a double array, unboxed). */
interface Heap {
  entries: Entry[];
  amounts: number[];
}

/**
 * One namespace: a max-heap of entries per resource. Each object is one Map entry however many
 * resources it is charged, and a heap move updates the entry's position array, not a map.
 */
class NamespaceIndex {
  readonly entries = new Map<string, Entry>();
  private readonly slots = new Map<string, number>();
  private readonly resources: string[] = [];
  private readonly heaps: Heap[] = [];

  /** The heap of a resource; -1 for a count, which is not indexed. */
  slotOf(resource: string): number {
    let slot = this.slots.get(resource);
    if (slot === undefined) {
      if (isCount(resource)) {
        this.slots.set(resource, -1);
        return -1;
      }
      slot = this.resources.length;
      this.slots.set(resource, slot);
      this.resources.push(resource);
      this.heaps.push({ entries: [], amounts: [] });
    }
    return slot;
  }

  set(entry: Entry, slot: number, amount: number): void {
    const heap = this.heaps[slot]!;
    const at = entry.at[slot] ?? -1;
    if (at < 0) {
      heap.entries.push(entry);
      heap.amounts.push(amount);
      entry.at[slot] = heap.entries.length - 1;
      this.up(heap, slot, heap.entries.length - 1);
      return;
    }
    const before = heap.amounts[at]!;
    heap.amounts[at] = amount;
    if (amount > before) this.up(heap, slot, at);
    else this.down(heap, slot, at);
  }

  remove(entry: Entry, slot: number): void {
    const heap = this.heaps[slot]!;
    const i = entry.at[slot] ?? -1;
    if (i < 0) return;
    const last = heap.entries.length - 1;
    this.swap(heap, slot, i, last);
    heap.entries.pop();
    heap.amounts.pop();
    entry.at[slot] = -1;
    if (i < heap.entries.length) {
      this.up(heap, slot, i);
      this.down(heap, slot, i);
    }
  }

  /** Removes `entry` from the heaps of resources `keep` no longer charges; whether it is in any heap still. */
  prune(entry: Entry, keep: (resource: string) => boolean): boolean {
    let any = false;
    for (let slot = 0; slot < entry.at.length; slot++) {
      if ((entry.at[slot] ?? -1) < 0) continue;
      if (keep(this.resources[slot]!)) any = true;
      else this.remove(entry, slot);
    }
    return any;
  }

  /** The k largest of `resource`, largest first: a walk of the heap's top through a small frontier. */
  top(resource: string, k: number): Array<[key: string, amount: number]> {
    const slot = this.slots.get(resource);
    if (slot === undefined || slot < 0) return [];
    const { entries, amounts } = this.heaps[slot]!;
    const out: Array<[string, number]> = [];
    const frontier: number[] = entries.length > 0 ? [0] : [];
    while (out.length < k && frontier.length > 0) {
      let best = 0;
      for (let j = 1; j < frontier.length; j++) if (amounts[frontier[j]!]! > amounts[frontier[best]!]!) best = j;
      const i = frontier[best]!;
      frontier[best] = frontier[frontier.length - 1]!;
      frontier.pop();
      out.push([entries[i]!.key, amounts[i]!]);
      for (const c of [2 * i + 1, 2 * i + 2]) if (c < entries.length) frontier.push(c);
    }
    return out;
  }

  private up(heap: Heap, slot: number, i: number): void {
    const a = heap.amounts;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! >= a[i]!) return;
      this.swap(heap, slot, i, parent);
      i = parent;
    }
  }

  private down(heap: Heap, slot: number, i: number): void {
    const a = heap.amounts;
    const n = a.length;
    for (;;) {
      let largest = i;
      const l = 2 * i + 1;
      const r = l + 1;
      if (l < n && a[l]! > a[largest]!) largest = l;
      if (r < n && a[r]! > a[largest]!) largest = r;
      if (largest === i) return;
      this.swap(heap, slot, i, largest);
      i = largest;
    }
  }

  private swap(heap: Heap, slot: number, x: number, y: number): void {
    if (x === y) return;
    const { entries, amounts } = heap;
    const ex = entries[x]!;
    const ey = entries[y]!;
    entries[x] = ey;
    entries[y] = ex;
    const ax = amounts[x]!;
    amounts[x] = amounts[y]!;
    amounts[y] = ax;
    ey.at[slot] = x;
    ex.at[slot] = y;
  }
}

export class TopConsumers {
  private readonly namespaces = new Map<string, NamespaceIndex>();

  /** One object's charge changed from `old` to `next` (undefined: it had or has none). */
  update(namespace: string, key: string, old: ResourceAmounts | undefined, next: ResourceAmounts | undefined): void {
    let index = this.namespaces.get(namespace);
    let entry = index?.entries.get(key);
    if (entry && !index!.prune(entry, (r) => (next?.[r] ?? 0) > 0)) {
      index!.entries.delete(key);
      entry = undefined;
    }
    if (!next) return;
    for (const r in next) {
      const v = next[r]!;
      if (v <= 0 || (entry !== undefined && old !== undefined && old[r] === v)) continue;
      if (!index) this.namespaces.set(namespace, (index = new NamespaceIndex()));
      const slot = index.slotOf(r);
      if (slot < 0) continue;
      if (!entry) index.entries.set(key, (entry = { key, at: [-1, -1, -1, -1] }));
      index.set(entry, slot, v);
    }
  }

  /** The k objects with the most of `resource` across `namespaces`, largest first. */
  top(namespaces: Iterable<string>, resource: string, k: number): Consumer[] {
    const out: Consumer[] = [];
    for (const namespace of namespaces) {
      for (const [key, amount] of this.namespaces.get(namespace)?.top(resource, k) ?? []) out.push({ key, namespace, amount });
    }
    out.sort((a, b) => b.amount - a.amount || (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.key < b.key ? -1 : 1));
    return out.slice(0, k);
  }

  clear(): void {
    this.namespaces.clear();
  }
}
