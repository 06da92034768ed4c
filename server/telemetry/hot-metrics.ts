// Counter and histogram families for the per-review hot path. prom-client's children hash and
// validate their labels on every inc/observe; these keep one plain record per label combination,
// updated with a few arithmetic operations, and produce prom-client's own exposition data when the
// registry is scraped (they implement the part of its metric interface a Registry uses).
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

/** What prom-client's Registry reads from a metric's get() to write the exposition text. */
export interface Exposition {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>;
}

export interface HotCounterSeries {
  readonly labels: Labels;
  value: number;
  /** Exposed at 0 too: a combination that is known to come, so increase() sees its first event. */
  expected?: boolean;
}

export interface HotHistogramSeries {
  readonly labels: Labels;
  /** Per bucket, the observations at or below its bound and above the previous one. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

abstract class HotFamily<S extends { labels: Labels }> {
  protected series = new Map<string, S>();
  readonly aggregator = 'sum' as const;

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /**
   * The series for one label combination; callers keep the returned record, so the key is built
   * once per combination, never per observation.
   */
  child(labels: Labels): S {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = this.create({ ...labels })));
    return s;
  }

  reset(): void {
    for (const s of this.series.values()) this.clear(s);
  }

  protected abstract create(labels: Labels): S;
  protected abstract clear(series: S): void;
}

/** A counter family; a series is exposed once it has been incremented, or from the start when expected. */
export class HotCounter extends HotFamily<HotCounterSeries> {
  readonly type = 'counter';

  protected create(labels: Labels): HotCounterSeries {
    return { labels, value: 0 };
  }

  protected clear(series: HotCounterSeries): void {
    series.value = 0;
  }

  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    for (const s of this.series.values()) if (s.value > 0 || s.expected === true) values.push({ labels: { ...s.labels }, value: s.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A cumulative histogram family with fixed bounds; a series is exposed once it has an observation. */
export class HotHistogram extends HotFamily<HotHistogramSeries> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry);
  }

  protected create(labels: Labels): HotHistogramSeries {
    return { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
  }

  protected clear(series: HotHistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
    series.count = 0;
  }

  observe(series: HotHistogramSeries, value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        series.counts[i]!++;
        break;
      }
    }
    series.sum += value;
    series.count++;
  }

  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      if (s.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucket, labels: { le: this.bounds[i]!, ...s.labels }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
