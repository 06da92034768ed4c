// SPEC 4: a namespace that two Tenants claim is a configuration error reported in /readyz details,
// while the webhook keeps serving (an unready webhook would block every admission in the cluster).
import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startServer } from '../server/webhook-server.js';

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: shared, labels: {team: a, env: prod}}
---
apiVersion: tenantguard.io/v1alpha1
kind: Tenant
metadata: {name: team-a}
spec: {namespaceSelector: {matchLabels: {team: a}}}
---
apiVersion: tenantguard.io/v1alpha1
kind: Tenant
metadata: {name: prod}
spec: {namespaces: [shared]}
`;

t.test('/readyz stays 200 and names the namespace two Tenants claim', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-conflict-'));
  await writeFile(join(dir, 'state.yaml'), STATE);
  const server = await startServer({ flags: { host: '127.0.0.1', port: '0', state: dir, 'log-level': 'silent' }, env: {} });
  t.teardown(() => server.stop());
  const dispatcher = new Agent({ connect: { ca: server.devCA! } });
  t.teardown(() => dispatcher.close());
  const res = await request(`${server.url}/readyz`, { dispatcher });
  t.equal(res.statusCode, 200);
  t.same(await res.body.json(), {
    ready: true,
    details: ['namespace shared is claimed by Tenants prod, team-a (the stricter settings apply)'],
  });
});
