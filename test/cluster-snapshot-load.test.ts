// Loading a state directory document by document: multi-document YAML and JSON files with their
// `kind: List` items, and each bad input named with its file and position. The memory this saves
// is measured by test/bench/snapshot-load-bench.ts.
import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseObjects, SnapshotError, SnapshotView } from '../server/cluster/snapshot-view.js';

const names = (objs: Iterable<{ metadata?: { name?: string } }>) => [...objs].map((o) => o.metadata?.name);

t.test('YAML: every document in order, lists flattened, empty documents skipped', async (t) => {
  const text = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}',
    '',
    'apiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p1}}\n- {apiVersion: v1, kind: Pod, metadata: {name: p2}}',
    '# only a comment',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p3}',
  ].join('\n---\n');
  t.same(names(parseObjects(text, 'state.yaml')), ['a', 'p1', 'p2', 'p3']);
});

t.test('JSON: one value, a List flattened', async (t) => {
  const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'Pod', metadata: { name: 'p1' } }, { kind: 'Namespace', metadata: { name: 'a' } }] });
  t.same(names(parseObjects(text, 'pods.JSON')), ['p1', 'a']);
});

t.test('errors name the file and where in it', async (t) => {
  t.throws(() => [...parseObjects('kind: Pod\n---\nkind: Pod\nmetadata: {name: [unclosed\n', 'state/broken.yaml')], {
    name: 'SnapshotError',
    message: /^state\/broken\.yaml: .+ at line \d+, column \d+$/,
  });
  t.throws(() => [...parseObjects('{"kind": "Pod",', 'pods.json')], { name: 'SnapshotError', message: /^pods\.json: / });
  t.throws(() => [...parseObjects('- a\n- b\n', 'list.yaml')], new SnapshotError('list.yaml: a document is not a Kubernetes object'));
  t.throws(() => [...parseObjects('"text"', 'scalar.json')], new SnapshotError('scalar.json: a document is not a Kubernetes object'));
});

t.test('a state directory loads through the same path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-snap-load-'));
  await writeFile(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p1, namespace: a}\n');
  await writeFile(join(dir, 'b.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: 'a' } }));
  const view = await SnapshotView.load(dir, {});
  t.same(view.list('Pod', 'a').map((p) => p.metadata?.name).sort(), ['p1', 'p2']);
});
