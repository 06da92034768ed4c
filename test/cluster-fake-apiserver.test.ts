// The fake apiserver's own semantics, which the cluster tests rely on: resourceVersion
// preconditions, the status subresource, merge patches, paginated lists, watch replay and 410 Gone.
import t from 'tap';
import { FakeApiServer } from './helpers/fake-apiserver.js';

async function call(api: FakeApiServer, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: 'Bearer fake-token', 'content-type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

t.test('writes with a stale resourceVersion get 409; the status subresource writes only status', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const created = await call(api, 'POST', '/apis/tenantguard.io/v1alpha1/tenants', { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'a' }, spec: { namespaces: ['x'] } });
  t.equal(created.status, 201);
  const rv = created.body.metadata.resourceVersion;

  const statusWrite = await call(api, 'PUT', '/apis/tenantguard.io/v1alpha1/tenants/a/status', { ...created.body, spec: { namespaces: ['hijack'] }, status: { used: { 'count/pods': '1' } } });
  t.equal(statusWrite.status, 200);
  t.same(statusWrite.body.spec, { namespaces: ['x'] }, '/status ignores spec');
  t.same(statusWrite.body.status, { used: { 'count/pods': '1' } });
  t.ok(Number(statusWrite.body.metadata.resourceVersion) > Number(rv));

  const stale = await call(api, 'PUT', '/apis/tenantguard.io/v1alpha1/tenants/a/status', { ...created.body, status: { used: {} } });
  t.equal(stale.status, 409);
  t.match(stale.body, { kind: 'Status', reason: 'Conflict', code: 409, message: /the object has been modified/ });
  t.equal(api.conflicts, 1);

  const specWrite = await call(api, 'PUT', '/apis/tenantguard.io/v1alpha1/tenants/a', { ...statusWrite.body, spec: { namespaces: ['y'] }, status: {} });
  t.same(specWrite.body.status, { used: { 'count/pods': '1' } }, 'the main resource ignores status');

  const patched = await call(api, 'PATCH', '/apis/tenantguard.io/v1alpha1/tenants/a/status', { metadata: { resourceVersion: specWrite.body.metadata.resourceVersion }, status: { used: { 'count/pods': '2' } } }, 'application/merge-patch+json');
  t.equal(patched.status, 200);
  t.same(patched.body.status.used, { 'count/pods': '2' });
  const stalePatch = await call(api, 'PATCH', '/apis/tenantguard.io/v1alpha1/tenants/a/status', { metadata: { resourceVersion: rv }, status: {} }, 'application/merge-patch+json');
  t.equal(stalePatch.status, 409);
  t.equal((await call(api, 'PATCH', '/apis/tenantguard.io/v1alpha1/tenants/a', {}, 'application/strategic-merge-patch+json')).status, 415);
});

t.test('lists page with continue tokens at one resourceVersion; errors are Status objects', async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  for (let i = 0; i < 5; i++) api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: `p${i}` } });
  const first = await call(api, 'GET', '/api/v1/namespaces/ns/pods?limit=2');
  t.same(first.body.items.map((p: any) => p.metadata.name), ['p0', 'p1']);
  t.ok(first.body.metadata.continue);
  const second = await call(api, 'GET', `/api/v1/namespaces/ns/pods?limit=2&continue=${first.body.metadata.continue}`);
  t.same(second.body.items.map((p: any) => p.metadata.name), ['p2', 'p3']);
  t.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
  t.equal((await call(api, 'GET', '/apis/kubevirt.io/v1/virtualmachines')).status, 404, 'KubeVirt not served');
  t.equal((await call(api, 'GET', '/api/v1/namespaces/ns/pods/nope')).body.reason, 'NotFound');
  const anonymous = await fetch(`${api.url}/api/v1/pods`);
  t.equal(anonymous.status, 401);
});

t.test('watches replay from their resourceVersion and get 410 Gone once it is compacted', async (t) => {
  const api = await FakeApiServer.start({ kubevirt: false });
  t.teardown(() => api.close());
  api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'a' } });
  const from = api.resourceVersion;
  api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'b' } });
  api.remove('v1', 'Pod', 'ns', 'a');

  const read = async (rv: number, events: number) => {
    const controller = new AbortController();
    const res = await fetch(`${api.url}/api/v1/pods?watch=true&resourceVersion=${rv}`, { headers: { authorization: 'Bearer fake-token' }, signal: controller.signal });
    const lines: any[] = [];
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      if (lines.length >= events) break;
    }
    controller.abort();
    return lines;
  };
  const replayed = await read(from, 2);
  t.same(replayed.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'DELETED a']);
  api.compact();
  const gone = await read(from, 1);
  t.match(gone, [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }]);
  t.equal(api.expiredWatches, 1);
});
