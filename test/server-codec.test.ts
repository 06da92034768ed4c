// The AdmissionReview codec on its own: field-precise decode errors and the exact response shape.
import t from 'tap';
import type { Decision } from '../policies/engine.js';
import { decodeReview, encodeResponse, parseJsonBody } from '../server/admission-codec.js';
import { admissionReview } from './helpers/https-fixture.js';

function reviewWith(request: Record<string, unknown>): unknown {
  const base = admissionReview({ uid: 'uid-1' }) as { request: Record<string, unknown> };
  return { ...base, request: { ...base.request, ...request } };
}

t.test('a complete apiserver request decodes to its request, optional fields included', async (t) => {
  const body = reviewWith({
    subResource: 'ephemeralcontainers',
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    requestSubResource: 'ephemeralcontainers',
    name: 'web',
    operation: 'UPDATE',
    userInfo: { username: 'alice', uid: 'u-1', groups: ['devs'], extra: { scopes: ['a', 'b'] } },
    object: { kind: 'Pod' },
    oldObject: { kind: 'Pod' },
    dryRun: false,
    options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
  });
  const result = decodeReview(body);
  t.ok(result.ok);
  if (result.ok) t.equal(result.request, (body as { request: unknown }).request, 'the request object itself, not a copy');
});

t.test('decode errors name the first offending field', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['kind.kind missing', reviewWith({ kind: { group: '', version: 'v1' } }), 'request.kind.kind: is required'],
    ['kind.version empty', reviewWith({ kind: { group: '', version: '', kind: 'Pod' } }), 'request.kind.version: must be a non-empty string'],
    ['resource missing', reviewWith({ resource: undefined }), 'request.resource: is required'],
    ['requestKind not an object', reviewWith({ requestKind: 'Pod' }), 'request.requestKind: must be an object'],
    ['object a string', reviewWith({ object: 'Pod' }), 'request.object: must be object or null'],
    ['dryRun a string', reviewWith({ dryRun: 'true' }), 'request.dryRun: must be a boolean'],
    ['uid a number', reviewWith({ uid: 42 }), 'request.uid: must be a string'],
    ['userInfo missing', reviewWith({ userInfo: undefined }), 'request.userInfo: is required'],
    ['extra values not lists', reviewWith({ userInfo: { extra: { scopes: 'a' } } }), 'request.userInfo.extra.scopes: must be an array'],
    ['namespace a number', reviewWith({ namespace: 3 }), 'request.namespace: must be a string'],
    ['body null', null, 'body: is empty; expected an admission.k8s.io/v1 AdmissionReview'],
    ['body a string', '"review"', 'body: must be a JSON object (an admission.k8s.io/v1 AdmissionReview)'],
  ];
  for (const [name, body, message] of cases) {
    const result = decodeReview(JSON.parse(JSON.stringify(body)));
    t.same(result, { ok: false, error: message }, name);
  }
});

t.test('parseJsonBody keeps ordinary keys named like prototype words', async (t) => {
  const value = parseJsonBody('{"metadata":{"labels":{"constructor":"ok","proto":"ok"}},"note":"\\u00e9"}');
  t.same(value, { metadata: { labels: { constructor: 'ok', proto: 'ok' } }, note: 'é' });
});

const base: Decision = { allowed: true, warnings: [], auditAnnotations: {}, tenant: undefined, modules: [] };

t.test('encodeResponse: an allowed decision with nothing to say is just uid and allowed', async (t) => {
  t.same(encodeResponse('u1', base), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true } });
});

t.test('encodeResponse: patch is base64 JSONPatch with patchType, warnings and annotations only when present', async (t) => {
  const patch = [{ op: 'add' as const, path: '/metadata/labels/a~1b', value: 'x' }];
  const { response } = encodeResponse('u2', { ...base, patch, warnings: ['w'], auditAnnotations: { 'tenantguard.io/exempt': 'namespace x' } });
  t.same(response, {
    uid: 'u2',
    allowed: true,
    warnings: ['w'],
    auditAnnotations: { 'tenantguard.io/exempt': 'namespace x' },
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
  });
});

t.test('encodeResponse: a denial carries status and never a patch', async (t) => {
  const { response } = encodeResponse('u3', {
    ...base,
    allowed: false,
    status: { code: 403, reason: 'Forbidden', message: '[pod-security] privileged' },
    patch: [{ op: 'add', path: '/x', value: 1 }],
  });
  t.same(response, { uid: 'u3', allowed: false, status: { code: 403, reason: 'Forbidden', message: '[pod-security] privileged' } });
});
