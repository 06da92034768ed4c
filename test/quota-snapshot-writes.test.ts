// Snapshot mode (`replay`, `serve --state`) applies an admitted review as the apiserver would have
// persisted it, and the ledger's reservation ends when the state holds the object: so the state
// must name and version its writes as the apiserver does, or a change is charged twice (once in
// the reservation that never ends, once in the observed object).
import t from 'tap';
import type { KubeObject } from '../policies/types.js';
import { admissionSequence, NS, TENANT } from './helpers/admission-sequence.js';

const Gi = 1024 ** 3;
const HARD = { quota: { hard: { 'requests.storage': '20Gi', persistentvolumeclaims: '10' } } };

function pvc(meta: Record<string, unknown>, size: string): KubeObject {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { namespace: NS, ...meta }, spec: { storageClassName: '', resources: { requests: { storage: size } } } };
}

t.test('an UPDATE of an object a state file gave a real resourceVersion is charged once', async (t) => {
  const stored = pvc({ name: 'data', uid: 'uid-data', resourceVersion: '2001' }, '5Gi');
  const seq = await admissionSequence(t, [stored], HARD);
  t.equal(seq.used()['requests.storage'], 5 * Gi);

  const expanded = pvc({ name: 'data', uid: 'uid-data', resourceVersion: '2001' }, '8Gi');
  t.equal((await seq.send('UPDATE', expanded, { old: stored })).allowed, true);
  t.equal(seq.used()['requests.storage'], 8 * Gi, 'the expansion 5Gi -> 8Gi: 8Gi, not 8Gi observed + 3Gi reserved');
  t.equal(seq.fx.ledger.book.count(TENANT), 0, 'the reservation ended when the state held the new version');
  const version = Number(seq.fx.view.get('PersistentVolumeClaim', NS, 'data')?.metadata?.resourceVersion);
  t.ok(version > 2001, `the write is a later version than the loaded one (${version})`);

  const again = pvc({ name: 'data', uid: 'uid-data', resourceVersion: String(version) }, '9Gi');
  t.equal((await seq.send('UPDATE', again, { old: seq.fx.view.get('PersistentVolumeClaim', NS, 'data') })).allowed, true);
  t.same([seq.used()['requests.storage'], seq.fx.ledger.book.count(TENANT)], [9 * Gi, 0], 'and the next one after it');
  t.same(seq.observed(), seq.used());
});

t.test('a review made against a version later than any stored still ends its reservation', async (t) => {
  const stored = pvc({ name: 'data', uid: 'uid-data', resourceVersion: '7' }, '5Gi');
  const seq = await admissionSequence(t, [stored], HARD);
  const old = pvc({ name: 'data', uid: 'uid-data', resourceVersion: '90210' }, '5Gi');
  t.equal((await seq.send('UPDATE', pvc({ name: 'data', uid: 'uid-data' }, '6Gi'), { old })).allowed, true);
  t.same([seq.used()['requests.storage'], seq.fx.ledger.book.count(TENANT)], [6 * Gi, 0]);
});

t.test('an object created with generateName only is charged once, under the name the state gives it', async (t) => {
  const seq = await admissionSequence(t, [], HARD);
  const created = await seq.send('CREATE', pvc({ generateName: 'scratch-' }, '2Gi'));
  t.equal(created.allowed, true);
  const names = seq.fx.view.list('PersistentVolumeClaim', NS).map((p) => p.metadata?.name);
  t.equal(names.length, 1);
  t.match(names[0], /^scratch-.+/, 'named from generateName');
  t.same([seq.used()['requests.storage'], seq.used().persistentvolumeclaims], [2 * Gi, 1], 'not 2Gi observed + 2Gi waiting for a PVC named ""');
  t.equal(seq.fx.ledger.book.count(TENANT), 0);
  t.same(seq.observed(), seq.used());
});
