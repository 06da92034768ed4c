// Every class of malformed request gets HTTP 400 with a JSON error naming the problem, is counted
// by reason, and the server keeps serving.
import t from 'tap';
import { admissionReview, startFixture, type Fixture } from './helpers/https-fixture.js';

const LIMIT = 4096;
let fx: Fixture;
t.before(async () => {
  fx = await startFixture({ bodyLimitBytes: LIMIT });
});
t.teardown(() => fx.close());

const valid = () => JSON.stringify(admissionReview({ uid: 'uid-valid', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } } }));

function withRequest(patch: Record<string, unknown>): string {
  const review = admissionReview({ uid: 'uid-x' }) as { request: Record<string, unknown> };
  return JSON.stringify({ ...review, request: { ...review.request, ...patch } });
}

interface Case {
  name: string;
  body?: string;
  headers?: Record<string, string>;
  error: string;
  message: string | RegExp;
}

const cases: Case[] = [
  { name: 'truncated JSON', body: '{"apiVersion": ', error: 'bad_json', message: /^body: is not valid JSON: .+/ },
  { name: 'not JSON at all', body: 'apiVersion: admission.k8s.io/v1', error: 'bad_json', message: /^body: is not valid JSON: Unexpected token/ },
  { name: 'text/plain content-type', body: valid(), headers: { 'content-type': 'text/plain' }, error: 'bad_content_type', message: 'content-type: "text/plain" is not supported; send application/json' },
  { name: 'yaml content-type', body: valid(), headers: { 'content-type': 'application/yaml' }, error: 'bad_content_type', message: 'content-type: "application/yaml" is not supported; send application/json' },
  { name: 'missing content-type', body: valid(), headers: {}, error: 'bad_content_type', message: 'content-type: header is missing; send application/json' },
  { name: 'empty body with application/json', body: '', error: 'invalid_review', message: 'body: is empty; expected an admission.k8s.io/v1 AdmissionReview' },
  { name: 'empty body without content-type', body: '', headers: {}, error: 'invalid_review', message: 'body: is empty; expected an admission.k8s.io/v1 AdmissionReview' },
  { name: 'a JSON array', body: '[]', error: 'invalid_review', message: 'body: must be a JSON object (an admission.k8s.io/v1 AdmissionReview)' },
  {
    name: 'v1beta1 apiVersion',
    body: JSON.stringify({ ...admissionReview({ uid: 'u' }), apiVersion: 'admission.k8s.io/v1beta1' }),
    error: 'invalid_review',
    message: 'apiVersion: must be "admission.k8s.io/v1", got "admission.k8s.io/v1beta1"',
  },
  {
    name: 'wrong kind',
    body: JSON.stringify({ ...admissionReview({ uid: 'u' }), kind: 'Pod' }),
    error: 'invalid_review',
    message: 'kind: must be "AdmissionReview", got "Pod"',
  },
  { name: 'no request', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), error: 'invalid_review', message: 'request: is required' },
  { name: 'missing request.uid', body: withRequest({ uid: undefined }), error: 'invalid_review', message: 'request.uid: is required' },
  { name: 'empty request.uid', body: withRequest({ uid: '' }), error: 'invalid_review', message: 'request.uid: must be a non-empty string' },
  { name: 'unknown operation', body: withRequest({ operation: 'PATCH' }), error: 'invalid_review', message: 'request.operation: must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'userInfo.groups not strings', body: withRequest({ userInfo: { username: 'a', groups: ['ok', 7] } }), error: 'invalid_review', message: 'request.userInfo.groups[1]: must be a string' },
  {
    name: '__proto__ key in the object',
    body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{"metadata":{"__proto__":{"polluted":true}}}}}',
    error: 'bad_json',
    message: 'body: forbidden prototype key at request.object.metadata.__proto__',
  },
  {
    name: '\\u-escaped __proto__ key',
    body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"\\u005f_proto__":{"polluted":true}}}',
    error: 'bad_json',
    message: 'body: forbidden prototype key at request.__proto__',
  },
  {
    name: 'constructor.prototype',
    body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"constructor":{"prototype":{"polluted":true}}}}',
    error: 'bad_json',
    message: 'body: forbidden prototype key at request.constructor.prototype',
  },
];

t.test('each malformed request answers 400 {error, message} and the next valid review is served', async (t) => {
  for (const c of cases) {
    const res = await fx.request('/validate', { method: 'POST', body: c.body, headers: c.headers ?? { 'content-type': 'application/json' } });
    t.equal(res.status, 400, `${c.name}: status`);
    t.match(res.headers['content-type'], /^application\/json/, `${c.name}: JSON error`);
    const body = res.json();
    t.equal(body.error, c.error, `${c.name}: error`);
    if (typeof c.message === 'string') t.equal(body.message, c.message, `${c.name}: message`);
    else t.match(body.message, c.message, `${c.name}: message`);
    const ok = await fx.request('/validate', { body: valid() });
    t.equal(ok.status, 200, `${c.name}: served after`);
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
});

t.test('a body of exactly the limit is served; limit + 1 bytes is 400 naming the limit', async (t) => {
  const body = valid();
  const exact = body + ' '.repeat(LIMIT - Buffer.byteLength(body));
  t.equal(Buffer.byteLength(exact), LIMIT);
  const ok = await fx.request('/validate', { body: exact });
  t.equal(ok.status, 200);
  t.equal(ok.json().response.uid, 'uid-valid');

  const over = await fx.request('/validate', { body: `${exact} ` });
  t.equal(over.status, 400);
  t.same(over.json(), { error: 'body_too_large', message: `body: exceeds the limit of ${LIMIT} bytes` });
  t.equal((await fx.request('/validate', { body: valid() })).status, 200, 'served after');
});

t.test('request errors are counted by reason', async (t) => {
  const text = (await fx.request('/metrics')).text;
  const count = (reason: string) => Number(text.match(new RegExp(`^tenantguard_request_errors_total\\{reason="${reason}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
  const expected = (error: string) => cases.filter((c) => c.error === error).length;
  t.equal(count('bad_json'), expected('bad_json'));
  t.equal(count('bad_content_type'), expected('bad_content_type'));
  t.equal(count('invalid_review'), expected('invalid_review'));
  t.equal(count('body_too_large'), 1);
});

t.test('unknown routes and methods answer 404 JSON listing the routes', async (t) => {
  const res = await fx.request('/mutate');
  t.equal(res.status, 404);
  t.same(res.json(), {
    error: 'not_found',
    message: 'no route GET /mutate; routes: POST /mutate, POST /validate, GET /healthz, GET /readyz, GET /metrics',
  });
});
