// The hot-path metric families write the same exposition prom-client does: cumulative buckets,
// +Inf, _sum and _count per label combination, and only combinations that saw a value.
import t from 'tap';
import { Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../server/telemetry/hot-metrics.js';

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

t.test('histogram observations land in cumulative buckets with the right sum and count', async (t) => {
  const registry = new Registry();
  const h = new HotHistogram('test_seconds', 'A test histogram.', registry, [0.001, 0.01, 0.1]);
  const fast = h.child({ route: 'fast' });
  h.child({ route: 'never-observed' });
  for (const v of [0.0005, 0.001, 0.05, 3]) h.observe(fast, v);
  const text = await registry.metrics();
  t.match(text, /# HELP test_seconds A test histogram\.\n# TYPE test_seconds histogram\n/);
  const s = samples(text);
  t.equal(s.get('test_seconds_bucket{le="0.001",route="fast"}'), 2, 'a value equal to a bound counts in that bucket');
  t.equal(s.get('test_seconds_bucket{le="0.01",route="fast"}'), 2);
  t.equal(s.get('test_seconds_bucket{le="0.1",route="fast"}'), 3);
  t.equal(s.get('test_seconds_bucket{le="+Inf",route="fast"}'), 4, 'a value over every bound counts only in +Inf');
  t.equal(s.get('test_seconds_count{route="fast"}'), 4);
  t.ok(Math.abs(s.get('test_seconds_sum{route="fast"}')! - 3.0515) < 1e-12);
  t.notOk([...s.keys()].some((k) => k.includes('never-observed')), 'a combination with no observation is not exposed');
});

t.test('counters expose incremented combinations, keep one record per combination, and reset', async (t) => {
  const registry = new Registry();
  const c = new HotCounter('test_total', 'A test counter.', registry);
  const a = c.child({ policy: 'p', result: 'allow' });
  t.equal(c.child({ policy: 'p', result: 'allow' }), a, 'the same labels give the same record');
  c.child({ policy: 'p', result: 'deny' });
  a.value += 3;
  const s = samples(await registry.metrics());
  t.equal(s.get('test_total{policy="p",result="allow"}'), 3);
  t.equal(s.has('test_total{policy="p",result="deny"}'), false);
  registry.resetMetrics();
  t.equal(samples(await registry.metrics()).has('test_total{policy="p",result="allow"}'), false, 'reset zeroes every series');
  t.equal(registry.getSingleMetric('test_total'), c as never);
});
