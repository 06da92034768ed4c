// Reservation expiry stays correct and bounded under load: entries and released uids leave the
// book when their TTL passes, in expiry order, whatever order they were added in, and each
// expiry step visits only what has come due (test/bench/review-heap-bench.ts measures the cost).
import t from 'tap';
import { ExpiryQueue } from '../server/quota-ledger/expiry-queue.js';
import { ObjectStore } from '../server/cluster/object-store.js';
import { ReservationBook, type ReservationEntry } from '../server/quota-ledger/reservation-book.js';

t.test('the queue hands out exactly the due items, earliest first', (t) => {
  const q = new ExpiryQueue<number>();
  // A fixed shuffle with repeats, so the heap's sift paths and equal keys are exercised.
  const times = Array.from({ length: 500 }, (_, i) => (i * 7919) % 211);
  times.forEach((at, i) => q.push(at, i));
  t.equal(q.nextTime(), 0);
  const seen: number[] = [];
  q.popDue(100, (item, at) => {
    t.equal(at, times[item], 'each item comes with its own time');
    seen.push(at);
  });
  t.same(seen, times.filter((x) => x <= 100).sort((a, b) => a - b), 'every item due by 100, in order');
  t.equal(q.size, times.filter((x) => x > 100).length, 'the rest stay');
  t.equal(q.nextTime(), 101);
  q.popDue(1000, () => {});
  t.equal(q.nextTime(), Infinity, 'empty');
  t.end();
});

function entry(uid: string, now: number, ttlMs: number): ReservationEntry {
  return {
    tenant: 'a',
    uid,
    object: { kind: 'Pod', namespace: 'ns', name: uid },
    amounts: { 'count/pods': 1 },
    createdAt: now,
    expiresAt: now + ttlMs,
    local: true,
  };
}

t.test('reservations expire at their TTL, released uids are forgotten at theirs', (t) => {
  let now = 1_000;
  const store = new ObjectStore({});
  const expired: string[] = [];
  const book = new ReservationBook(store, () => now, { expired: (e) => expired.push(e.uid) });
  // Added out of expiry order: a longer TTL first.
  book.add(entry('late', now, 5_000));
  book.add(entry('early', now, 1_000));
  book.add(entry('seen', now, 2_000));
  store.upsert('Pod', { metadata: { namespace: 'ns', name: 'seen' } });
  t.same(book.reserved('a'), { 'count/pods': 2 }, 'the observed one is released at once');
  t.ok(book.has('seen'), 'a released uid is remembered');

  now += 1_000;
  t.equal(book.count('a'), 1, 'early expired at its TTL');
  t.same(expired, ['early']);
  t.ok(book.has('seen'), 'still remembered before its own TTL');
  now += 1_000;
  book.expire();
  t.notOk(book.has('seen'), 'forgotten once its TTL passed');
  t.same(book.reserved('a'), { 'count/pods': 1 });
  now += 3_000;
  t.equal(book.count('a'), 0);
  t.same(expired, ['early', 'late'], 'an observed entry never expires as unobserved');
  t.end();
});

t.test('100,000 remembered uids: each review-time expiry check does work only for what came due', (t) => {
  let now = 0;
  const store = new ObjectStore({});
  const book = new ReservationBook(store, () => now);
  // A busy minute: 100,000 reservations, each observed at once, one every 0.6 ms.
  for (let i = 0; i < 100_000; i++) {
    now = i * 0.6;
    book.add(entry(`u${i}`, now, 120_000));
    store.upsert('Pod', { metadata: { namespace: 'ns', name: `u${i}` } });
  }
  // Past the first TTLs, every read runs the expiry step: the old full scan made this quadratic.
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) {
    now = 120_000 + i * 0.6;
    book.count('a');
  }
  const ms = performance.now() - started;
  t.notOk(book.has('u0'), 'the first uids are forgotten');
  t.notOk(book.has('u99998'), 'and the last');
  t.ok(ms < 10_000, `100,000 expiry steps over 100,000 remembered uids took ${ms.toFixed(0)} ms`);
  t.end();
});
