import t from 'tap';
import { selectorMatches } from '../policies/kube/label-selector.js';
import type { LabelSelector } from '../policies/types.js';

const web = { app: 'web', tier: 'front' };

t.test('an absent selector matches nothing, an empty one everything', async (t) => {
  t.equal(selectorMatches(undefined, web), false);
  t.equal(selectorMatches(null, web), false);
  t.equal(selectorMatches({}, web), true);
  t.equal(selectorMatches({}, {}), true);
  t.equal(selectorMatches({}, undefined), true, 'an object without labels is selected by {}');
  t.equal(selectorMatches({ matchLabels: {}, matchExpressions: [] }, undefined), true);
});

t.test('matchLabels: every pair must be present with the same value', async (t) => {
  t.equal(selectorMatches({ matchLabels: { app: 'web' } }, web), true);
  t.equal(selectorMatches({ matchLabels: { app: 'web', tier: 'front' } }, web), true);
  t.equal(selectorMatches({ matchLabels: { app: 'api' } }, web), false, 'wrong value');
  t.equal(selectorMatches({ matchLabels: { app: 'web', zone: 'a' } }, web), false, 'missing key');
  t.equal(selectorMatches({ matchLabels: { app: '' } }, { app: '' }), true, 'empty value is a value');
  t.equal(selectorMatches({ matchLabels: { app: '' } }, {}), false, 'empty value still needs the key');
});

t.test('In: key present with one of the values', async (t) => {
  const s: LabelSelector = { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] };
  t.equal(selectorMatches(s, { app: 'web' }), true);
  t.equal(selectorMatches(s, { app: 'api' }), true);
  t.equal(selectorMatches(s, { app: 'db' }), false);
  t.equal(selectorMatches(s, { other: 'web' }), false, 'missing key never matches In');
});

t.test('NotIn: key absent, or present with none of the values', async (t) => {
  const s: LabelSelector = { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] };
  t.equal(selectorMatches(s, { env: 'dev' }), true);
  t.equal(selectorMatches(s, { env: 'prod' }), false);
  t.equal(selectorMatches(s, { app: 'web' }), true, 'missing key matches NotIn (apimachinery semantics)');
  t.equal(selectorMatches(s, undefined), true);
});

t.test('Exists and DoesNotExist look only at the key', async (t) => {
  const exists: LabelSelector = { matchExpressions: [{ key: 'app', operator: 'Exists' }] };
  const absent: LabelSelector = { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] };
  t.equal(selectorMatches(exists, { app: '' }), true);
  t.equal(selectorMatches(exists, { other: 'x' }), false);
  t.equal(selectorMatches(absent, { other: 'x' }), true);
  t.equal(selectorMatches(absent, { app: 'web' }), false);
  t.equal(selectorMatches(absent, undefined), true);
});

t.test('inherited object properties are not labels', async (t) => {
  t.equal(selectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}), false);
  t.equal(selectorMatches({ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {}), true);
  t.equal(selectorMatches({ matchLabels: { constructor: 'x' } }, {}), false);
});

t.test('matchLabels and every matchExpression are ANDed', async (t) => {
  const s: LabelSelector = {
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['front'] },
      { key: 'env', operator: 'DoesNotExist' },
    ],
  };
  t.equal(selectorMatches(s, web), true);
  t.equal(selectorMatches(s, { ...web, env: 'prod' }), false, 'one failing expression fails the selector');
  t.equal(selectorMatches(s, { app: 'api', tier: 'front' }), false, 'failing matchLabels fails the selector');
});

t.test('selectors the API server would reject match nothing', async (t) => {
  t.equal(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }, web), false, 'In without values');
  t.equal(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'In' }] }, web), false, 'In with values absent');
  t.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: [] }] }, web), false, 'NotIn without values');
  t.equal(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Exists', values: ['web'] }] }, web), false, 'Exists with values');
  t.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist', values: ['y'] }] }, web), false, 'DoesNotExist with values');
  const unknown = { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['web'] }] } as unknown as LabelSelector;
  t.equal(selectorMatches(unknown, web), false, 'unknown operator');
});

t.test('JSON nulls for matchLabels/matchExpressions read as absent', async (t) => {
  const s = { matchLabels: null, matchExpressions: null } as unknown as LabelSelector;
  t.equal(selectorMatches(s, web), true);
  t.equal(selectorMatches(s, null), true);
});
