// Items ordered by when they expire (a binary min-heap), so that dropping what has expired costs
// O(log n) per dropped item instead of a scan of everything kept: under load the reservation book
// remembers every released uid for the reservation TTL, hundreds of thousands of them.
export class ExpiryQueue<T> {
  private readonly times: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  /** When the earliest item expires; Infinity when empty. */
  nextTime(): number {
    return this.times.length === 0 ? Infinity : this.times[0]!;
  }

  push(at: number, item: T): void {
    let i = this.times.length;
    this.times.push(at);
    this.items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= at) break;
      this.move(parent, i);
      i = parent;
    }
    this.times[i] = at;
    this.items[i] = item;
  }

  /** Removes every item that expires at or before `now`, earliest first, handing each to `visit`. */
  popDue(now: number, visit: (item: T, at: number) => void): void {
    while (this.times.length > 0 && this.times[0]! <= now) {
      const at = this.times[0]!;
      const item = this.items[0]!;
      this.removeTop();
      visit(item, at);
    }
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.items[to] = this.items[from]!;
  }

  private removeTop(): void {
    const lastTime = this.times.pop()!;
    const lastItem = this.items.pop()!;
    const n = this.times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.times[right]! < this.times[left]! ? right : left;
      if (this.times[child]! >= lastTime) break;
      this.move(child, i);
      i = child;
    }
    this.times[i] = lastTime;
    this.items[i] = lastItem;
  }
}
