// The arithmetic of one escrow write (server/quota-ledger/escrow-plan.ts), over random states and
// batches: what it admits plus every grant and entry never passes hard, the new grant covers what
// the replica admitted and has not observed, it refuses only what does not fit, and near the limit
// it places per-uid entries and keeps no slack.
import t from 'tap';
import { EscrowPlan, type PlanInput } from '../server/quota-ledger/escrow-plan.js';

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

t.test('10,000 random writes keep observed + entries + all grants <= hard, and refuse only what does not fit', (t) => {
  let violations = 0;
  let wrongRefusals = 0;
  let uncovered = 0;
  for (let i = 0; i < 10_000; i++) {
    const hard = 1 + rand(200);
    const observed = rand(hard + 1);
    const entries = rand(hard - observed + 1);
    const othersGrant = rand(hard - observed - entries + 1);
    const unreleased = rand(hard - observed - entries - othersGrant + 1);
    const input: PlanInput = {
      hard: { 'count/pods': hard },
      observed: { 'count/pods': observed },
      entries: { 'count/pods': entries },
      othersGrant: { 'count/pods': othersGrant },
      unreleased: { 'count/pods': unreleased },
      replicas: 1 + rand(5),
      giveBack: Math.random() < 0.2,
    };
    const plan = new EscrowPlan(input);
    let placedGrant = 0;
    let placedEntries = 0;
    for (let k = rand(30); k > 0; k--) {
      const pods = 1 + rand(5);
      const free = hard - observed - entries - othersGrant - unreleased - placedGrant - placedEntries;
      const p = plan.place({ 'count/pods': pods, 'requests.cpu': 100 });
      if (p.placed === 'refused') {
        if (pods <= free) wrongRefusals++;
      } else if (p.placed === 'grant') placedGrant += pods;
      else placedEntries += pods;
    }
    const grant = plan.grant()['count/pods']!;
    if (observed + entries + othersGrant + placedEntries + grant > hard) violations++;
    if (grant < unreleased + placedGrant) uncovered++;
  }
  t.equal(violations, 0, 'never over hard');
  t.equal(wrongRefusals, 0, 'never refuses what fits');
  t.equal(uncovered, 0, 'the grant always covers what the replica admitted from it');
  t.end();
});

t.test('far from the limit an increase goes to the grant with a share of the headroom; near it, an entry and no slack', (t) => {
  const base = { observed: {}, entries: {}, othersGrant: {}, unreleased: {}, giveBack: false };
  const far = new EscrowPlan({ ...base, hard: { 'count/pods': 1000 }, replicas: 2 });
  t.match(far.place({ 'count/pods': 1 }), { placed: 'grant' });
  t.same(far.grant(), { 'count/pods': 1 + Math.floor(999 / 4) }, 'its admitted pod plus a quarter of the 999 left (2 replicas)');
  const near = new EscrowPlan({ ...base, hard: { 'count/pods': 4 }, observed: { 'count/pods': 2 }, replicas: 1 });
  t.match(near.place({ 'count/pods': 1 }), { placed: 'entry' }, '1 left after it: a share of it would not hold another');
  t.same(near.grant(), { 'count/pods': 0 }, 'no slack near the limit');
  t.same(near.place({ 'count/pods': 3 }), { placed: 'refused', exceeded: [{ resource: 'count/pods', requested: 3, used: 3, hard: 4 }] });
  const given = new EscrowPlan({ ...base, hard: { 'count/pods': 1000 }, unreleased: { 'count/pods': 7 }, replicas: 3, giveBack: true });
  t.match(given.place({ 'count/pods': 1 }), { placed: 'entry' }, 'giving back: an entry, not the grant');
  t.same(given.grant(), { 'count/pods': 7 }, 'a grant given back keeps only what is waiting to be observed');
  t.end();
});
