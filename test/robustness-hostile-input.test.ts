// Hostile inputs over real HTTPS (SPEC 3): every malformed request gets the right 4xx with a JSON
// body naming the problem, and after the whole corpus the server still answers a valid review.
import t from 'tap';
import { admissionReview, startFixture, type Fixture } from './helpers/https-fixture.js';

const LIMIT = 64 * 1024;

interface HostileCase {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  error: string;
  /** A fragment the message must contain: the field or the problem it names. */
  says: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };

function review(request: Record<string, unknown> = {}): Record<string, unknown> {
  return admissionReview({ uid: 'hostile-1', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }, ...request } as never);
}

function withEnvelope(patch: Record<string, unknown>): string {
  return JSON.stringify({ ...review(), ...patch });
}

function withRequest(patch: Record<string, unknown>): string {
  const body = review();
  return JSON.stringify({ ...body, request: { ...(body.request as object), ...patch } });
}

const deepArrays = '['.repeat(10_000) + ']'.repeat(10_000);
const deepObjects = '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000);

const cases: HostileCase[] = [
  { name: 'invalid JSON', body: '{"apiVersion": "admission.k8s.io/v1",', status: 400, error: 'bad_json', says: 'body: is not valid JSON' },
  { name: 'JSON with trailing garbage', body: '{} x', status: 400, error: 'bad_json', says: 'is not valid JSON' },
  { name: 'a JSON string instead of an object', body: '"hello"', status: 400, error: 'invalid_review', says: 'body: must be a JSON object' },
  { name: 'a JSON number instead of an object', body: '42', status: 400, error: 'invalid_review', says: 'body: must be a JSON object' },
  { name: 'JSON null', body: 'null', status: 400, error: 'invalid_review', says: 'body: is empty' },
  { name: 'a JSON array', body: '[]', status: 400, error: 'invalid_review', says: 'body: must be a JSON object' },
  { name: 'apiVersion a number', body: withEnvelope({ apiVersion: 1 }), status: 400, error: 'invalid_review', says: 'apiVersion: must be "admission.k8s.io/v1", got 1' },
  { name: 'apiVersion v1beta1', body: withEnvelope({ apiVersion: 'admission.k8s.io/v1beta1' }), status: 400, error: 'invalid_review', says: 'apiVersion: must be "admission.k8s.io/v1"' },
  { name: 'kind an object', body: withEnvelope({ kind: {} }), status: 400, error: 'invalid_review', says: 'kind: must be "AdmissionReview", got {}' },
  { name: 'request missing', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), status: 400, error: 'invalid_review', says: 'request: is required' },
  { name: 'request a string', body: withEnvelope({ request: 'x' }), status: 400, error: 'invalid_review', says: 'request: must be an object' },
  { name: 'request.uid a number', body: withRequest({ uid: 7 }), status: 400, error: 'invalid_review', says: 'request.uid: must be a string' },
  { name: 'request.uid empty', body: withRequest({ uid: '' }), status: 400, error: 'invalid_review', says: 'request.uid: must be a non-empty string' },
  { name: 'request.uid missing', body: withRequest({ uid: undefined }), status: 400, error: 'invalid_review', says: 'request.uid: is required' },
  { name: 'request.kind a string', body: withRequest({ kind: 'Pod' }), status: 400, error: 'invalid_review', says: 'request.kind: must be an object' },
  { name: 'request.kind.kind a number', body: withRequest({ kind: { group: '', version: 'v1', kind: 3 } }), status: 400, error: 'invalid_review', says: 'request.kind.kind: must be a string' },
  { name: 'request.resource null', body: withRequest({ resource: null }), status: 400, error: 'invalid_review', says: 'request.resource: must be an object' },
  { name: 'operation FOO', body: withRequest({ operation: 'FOO' }), status: 400, error: 'invalid_review', says: 'request.operation: must be one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'userInfo an array', body: withRequest({ userInfo: ['alice'] }), status: 400, error: 'invalid_review', says: 'request.userInfo: must be an object' },
  { name: 'userInfo.groups a string', body: withRequest({ userInfo: { username: 'a', groups: 'system:masters' } }), status: 400, error: 'invalid_review', says: 'request.userInfo.groups: must be an array' },
  { name: 'userInfo.groups holding a number', body: withRequest({ userInfo: { username: 'a', groups: ['x', 5] } }), status: 400, error: 'invalid_review', says: 'request.userInfo.groups[1]: must be a string' },
  { name: 'object a string', body: withRequest({ object: '{"kind":"Pod"}' }), status: 400, error: 'invalid_review', says: 'request.object: must be object or null' },
  { name: 'oldObject an array', body: withRequest({ oldObject: [] }), status: 400, error: 'invalid_review', says: 'request.oldObject: must be object or null' },
  { name: 'dryRun a string', body: withRequest({ dryRun: 'true' }), status: 400, error: 'invalid_review', says: 'request.dryRun: must be a boolean' },
  { name: 'namespace a number', body: withRequest({ namespace: 1 }), status: 400, error: 'invalid_review', says: 'request.namespace: must be a string' },
  // Deep nesting: JSON.parse is iterative, but anything walking the result recursively could blow the stack.
  { name: '10k nested arrays as the body', body: deepArrays, status: 400, error: 'invalid_review', says: 'body: must be a JSON object' },
  { name: '10k nested arrays inside request.object', body: withRequest({ object: { kind: 'Pod', deep: '@@' } }).replace('"@@"', deepArrays), status: 200, error: '', says: '' },
  // The prototype-key walk runs when the text mentions `constructor`; it overflowed the stack (a 500) before.
  { name: '5k nested objects under a key that triggers the prototype-key walk', body: withRequest({ object: { constructor: '@@' } }).replace('"@@"', deepObjects), status: 200, error: '', says: '' },
  { name: '10k nested arrays under a key that triggers the prototype-key walk', body: withRequest({ object: { constructor: '@@' } }).replace('"@@"', deepArrays), status: 200, error: '', says: '' },
  { name: '__proto__ below 5k nested objects', body: withRequest({ object: { x: '@@' } }).replace('"@@"', '{"a":'.repeat(5_000) + '{"__proto__":1}' + '}'.repeat(5_000)), status: 400, error: 'bad_json', says: 'forbidden prototype key at request.object.x.a.a.a' },
  { name: '__proto__ key in request.object', body: withRequest({ object: { kind: 'Pod', metadata: { '@proto': { polluted: true } } } }).replace('@proto', '__proto__'), status: 400, error: 'bad_json', says: 'forbidden prototype key at request.object.metadata.__proto__' },
  { name: '\\u-escaped __proto__ key', body: withRequest({ object: { kind: 'Pod', '@p': {} } }).replace('@p', '\\u005f\\u005fproto\\u005f\\u005f'), status: 400, error: 'bad_json', says: 'forbidden prototype key at request.object.__proto__' },
  { name: 'constructor.prototype key', body: withRequest({ object: { kind: 'Pod', constructor: { prototype: { x: 1 } } } }), status: 400, error: 'bad_json', says: 'forbidden prototype key at request.object.constructor.prototype' },
  // Go's encoding/json (the apiserver) decodes invalid UTF-8 in strings to U+FFFD; so does this
  // server: such a string is reviewed like any other, never a crash.
  { name: 'invalid UTF-8 bytes inside a string', body: Buffer.concat([Buffer.from(withRequest({ name: '@@' }).split('@@')[0]!), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(withRequest({ name: '@@' }).split('@@')[1]!)]), status: 200, error: '', says: '' },
  { name: 'invalid UTF-8 bytes as the whole body', body: Buffer.from([0xff, 0xfe, 0xfd, 0x80]), status: 400, error: 'bad_json', says: 'body: is not valid JSON' },
  { name: 'content-type text/plain', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(review()), status: 400, error: 'bad_content_type', says: 'content-type: "text/plain" is not supported; send application/json' },
  { name: 'content-type application/x-www-form-urlencoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1', status: 400, error: 'bad_content_type', says: 'is not supported; send application/json' },
  { name: 'no content-type', headers: {}, body: JSON.stringify(review()), status: 400, error: 'bad_content_type', says: 'content-type: header is missing; send application/json' },
  { name: 'body one byte over the limit', body: JSON.stringify({ pad: 'x'.repeat(LIMIT - 10) }) + ' ', status: 400, error: 'body_too_large', says: `body: exceeds the limit of ${LIMIT} bytes` },
  { name: 'empty body', body: '', status: 400, error: 'invalid_review', says: 'body: is empty' },
  { name: 'GET on /validate', method: 'GET', path: '/validate', status: 404, error: 'not_found', says: 'no route GET /validate; routes: POST /mutate, POST /validate' },
  { name: 'PUT on /mutate', method: 'PUT', path: '/mutate', headers: JSON_TYPE, body: '{}', status: 404, error: 'not_found', says: 'no route PUT /mutate' },
  { name: 'unknown path', method: 'POST', path: '/admit', body: '{}', status: 404, error: 'not_found', says: 'no route POST /admit' },
  { name: 'unknown path with a body that is not JSON', method: 'POST', path: '/admit', headers: JSON_TYPE, body: '{not json', status: 404, error: 'not_found', says: 'no route POST /admit' },
];

async function send(f: Fixture, c: HostileCase): Promise<{ status: number; body: any; contentType: string | undefined }> {
  const res = await f.request(c.path ?? '/validate', {
    method: c.method ?? 'POST',
    headers: c.headers ?? JSON_TYPE,
    ...(c.body !== undefined ? { body: c.body } : {}),
  });
  let body: any;
  try {
    body = res.json();
  } catch {
    body = { unparsable: res.text.slice(0, 200) };
  }
  return { status: res.status, body, contentType: res.headers['content-type'] as string | undefined };
}

t.test('each hostile input gets its 4xx and a JSON body naming the problem; the server keeps serving', async (t) => {
  const f = await startFixture({ bodyLimitBytes: LIMIT });
  t.teardown(() => f.close());

  for (const c of cases) {
    const res = await send(f, c);
    t.equal(res.status, c.status, `${c.name}: status ${c.status} (got ${JSON.stringify(res.body).slice(0, 200)})`);
    t.match(res.contentType, /^application\/json/, `${c.name}: JSON body`);
    if (c.status === 200) {
      t.equal(res.body.response?.uid, 'hostile-1', `${c.name}: a review answer`);
      continue;
    }
    t.equal(res.body.error, c.error, `${c.name}: error ${c.error}`);
    t.type(res.body.message, 'string', `${c.name}: has a message`);
    t.ok(res.body.message.includes(c.says), `${c.name}: message says ${JSON.stringify(c.says)} (got ${JSON.stringify(res.body.message)})`);
  }

  const ok = await f.request('/validate', { body: JSON.stringify(review({ uid: 'after-corpus' })) });
  t.equal(ok.status, 200, 'a valid review after the corpus is answered');
  t.same(ok.json().response, { uid: 'after-corpus', allowed: true }, 'with its own uid');
  const health = await f.request('/healthz');
  t.equal(health.status, 200, 'healthz still answers');
});

t.test('a huge array within the limit is accepted and reviewed', async (t) => {
  const f = await startFixture({ bodyLimitBytes: LIMIT });
  t.teardown(() => f.close());
  const items = new Array(20_000).fill(0);
  const body = withRequest({ object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, items } });
  t.ok(body.length < LIMIT, 'the body is within the limit');
  const res = await f.request('/validate', { body });
  t.equal(res.status, 200);
  t.equal(res.json().response.uid, 'hostile-1');
});
