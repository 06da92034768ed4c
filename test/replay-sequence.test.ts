// A sequence replays as on a cluster: each admitted, non-dryRun review is applied to the snapshot
// before the next one is judged.
import t from 'tap';
import type { ReplayResult } from '../server/replay/report.js';
import { fixture, replay } from './fixtures/replay/run.js';

const STATE = ['--state', fixture('state')];

t.test('later reviews see what earlier admitted reviews created and deleted', async (t) => {
  const r = await replay([...STATE, '--output', 'json', '--expect', fixture('sequence/expectations.yaml'), fixture('sequence')]);
  t.equal(r.code, 0, r.stdout);
  const results = (JSON.parse(r.stdout) as { results: ReplayResult[] }).results;
  t.same(
    results.map((x) => [x.fixture, x.operation, x.outcome?.allowed]),
    [
      ['01-dry-run-pod-not-persisted.yaml', 'CREATE', true],
      ['02-second-pod-fits.yaml', 'CREATE', true],
      ['03-third-pod-over-limit.yaml', 'CREATE', false],
      ['04-delete-second-pod.json', 'DELETE', true],
      ['05-fourth-pod-fits-after-delete.yaml', 'CREATE', true],
    ],
    'inputs run in sorted path order',
  );
  t.equal(results[2]!.outcome?.message, '[pod-limit] namespace team-a already has 2 pods (limit 2)');
});

t.test('the same pod alone fits: its denial above came from the earlier fixtures', async (t) => {
  const r = await replay([...STATE, '--output', 'json', fixture('sequence/03-third-pod-over-limit.yaml')]);
  t.equal((JSON.parse(r.stdout) as { results: ReplayResult[] }).results[0]!.outcome?.allowed, true);
});

t.test('a dry run is not applied: without it the sequence is unchanged, with a real create it is not', async (t) => {
  const withoutDryRun = await replay([
    ...STATE,
    '--output',
    'json',
    fixture('sequence/02-second-pod-fits.yaml'),
    fixture('sequence/03-third-pod-over-limit.yaml'),
  ]);
  t.same(
    (JSON.parse(withoutDryRun.stdout) as { results: ReplayResult[] }).results.map((x) => x.outcome?.allowed),
    [true, false],
  );
  const twoRealCreates = await replay([
    ...STATE,
    '--output',
    'json',
    fixture('sequence/05-fourth-pod-fits-after-delete.yaml'),
    fixture('sequence/02-second-pod-fits.yaml'),
  ]);
  t.same(
    (JSON.parse(twoRealCreates.stdout) as { results: ReplayResult[] }).results.map((x) => x.outcome?.allowed),
    [true, false],
    'a non-dry-run create fills the namespace where the dry run did not',
  );
});
