// End-to-end over HTTPS: AdmissionReview in, AdmissionReview out, as the apiserver sees it.
import t from 'tap';
import fjp from 'fast-json-patch';
import type { KubeObject, PolicyModule } from '../policies/types.js';
import { admissionReview, startFixture, type Fixture } from './helpers/https-fixture.js';

// Fills two fields only where unset, one of them a label key with '/' (RFC 6901 escaping).
const fillDefaults: PolicyModule = {
  name: 'fill-defaults',
  type: 'mutate',
  evaluate({ object }) {
    const patch: Array<{ op: 'add'; path: string; value: unknown }> = [];
    if (object?.metadata?.labels === undefined) patch.push({ op: 'add', path: '/metadata/labels', value: { 'tenantguard.io/checked': 'true' } });
    else if (object.metadata.labels['tenantguard.io/checked'] === undefined) {
      patch.push({ op: 'add', path: '/metadata/labels/tenantguard.io~1checked', value: 'true' });
    }
    if (object?.spec?.securityContext === undefined) patch.push({ op: 'add', path: '/spec/securityContext', value: { runAsNonRoot: true } });
    return { patch };
  },
};

const denyPrivileged: PolicyModule = {
  name: 'deny-privileged',
  type: 'validate',
  evaluate({ object }) {
    const containers: any[] = object?.spec?.containers ?? [];
    return {
      findings: containers.flatMap((c, i) =>
        c.securityContext?.privileged ? [{ mode: 'enforce' as const, rule: 'Privileged Containers', message: `spec.containers[${i}].securityContext.privileged must not be true` }] : [],
      ),
    };
  },
};

const warnLatest: PolicyModule = {
  name: 'warn-latest',
  type: 'validate',
  evaluate({ object }) {
    const containers: any[] = object?.spec?.containers ?? [];
    return {
      findings: containers.flatMap((c, i) =>
        String(c.image).endsWith(':latest') ? [{ mode: 'warn' as const, rule: 'image-tag', message: `spec.containers[${i}].image uses :latest` }] : [],
      ),
    };
  },
};

const auditHostname: PolicyModule = {
  name: 'audit-hostname',
  type: 'validate',
  evaluate({ object }) {
    return object?.spec?.hostname ? { findings: [{ mode: 'audit', rule: 'hostname', message: 'spec.hostname is set' }] } : {};
  },
};

function pod(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a', ...(labels ? { labels } : {}) }, spec };
}

const plainPod = () => pod('web', { containers: [{ name: 'app', image: 'nginx:1.27' }] });

let fx: Fixture;
t.before(async () => {
  fx = await startFixture({ modules: [fillDefaults, denyPrivileged, warnLatest, auditHostname] });
});
t.teardown(() => fx.close());

async function post(path: string, review: Record<string, unknown>) {
  const res = await fx.request(path, { body: JSON.stringify(review) });
  return { status: res.status, body: res.json() };
}

t.test('/mutate answers an AdmissionReview whose base64 JSONPatch turns the Pod into the mutated Pod', async (t) => {
  const original = plainPod();
  const { status, body } = await post('/mutate', admissionReview({ uid: 'uid-mutate-1', name: 'web', object: original }));
  t.equal(status, 200);
  t.equal(body.apiVersion, 'admission.k8s.io/v1');
  t.equal(body.kind, 'AdmissionReview');
  t.equal(body.response.uid, 'uid-mutate-1');
  t.equal(body.response.allowed, true);
  t.equal(body.response.patchType, 'JSONPatch');
  t.notOk('status' in body.response, 'no status when allowed');
  t.notOk('warnings' in body.response, 'no warnings field when there are none');
  t.notOk('auditAnnotations' in body.response, 'no auditAnnotations field when there are none');

  const patch = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
  const mutated = fjp.applyPatch(structuredClone(original), patch, true, false).newDocument;
  t.same(mutated, {
    ...original,
    metadata: { ...original.metadata, labels: { 'tenantguard.io/checked': 'true' } },
    spec: { ...original.spec, securityContext: { runAsNonRoot: true } },
  });
});

t.test('/mutate escapes "/" in a label key as ~1 and never overrides a value the user set', async (t) => {
  const original = pod('web', { containers: [{ name: 'app', image: 'nginx:1.27' }], securityContext: { runAsNonRoot: false } }, { app: 'web' });
  const { body } = await post('/mutate', admissionReview({ uid: 'uid-mutate-2', name: 'web', object: original }));
  const patch = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
  t.same(patch, [{ op: 'add', path: '/metadata/labels/tenantguard.io~1checked', value: 'true' }]);
  const mutated = fjp.applyPatch(structuredClone(original), patch, true, false).newDocument;
  t.equal(mutated.spec.securityContext.runAsNonRoot, false, 'the user-set value stays');
});

t.test('/mutate on an already mutated object answers without patch or patchType (reinvocation is idempotent)', async (t) => {
  const done = pod('web', { containers: [{ name: 'app', image: 'nginx:1.27' }], securityContext: { runAsNonRoot: true } }, { 'tenantguard.io/checked': 'true' });
  const { body } = await post('/mutate', admissionReview({ uid: 'uid-mutate-3', name: 'web', object: done }));
  t.same(body.response, { uid: 'uid-mutate-3', allowed: true });
});

t.test('/validate denies a privileged Pod with status 403 naming the policy and the field path', async (t) => {
  const object = pod('root', { containers: [{ name: 'a', image: 'x:1' }, { name: 'b', image: 'x:1', securityContext: { privileged: true } }] });
  const { status, body } = await post('/validate', admissionReview({ uid: 'uid-deny', name: 'root', object }));
  t.equal(status, 200, 'a denial is a successful review, not an HTTP error');
  t.equal(body.response.uid, 'uid-deny');
  t.equal(body.response.allowed, false);
  t.same(body.response.status, {
    code: 403,
    reason: 'Forbidden',
    message: '[deny-privileged] spec.containers[1].securityContext.privileged must not be true',
  });
  t.notOk('patch' in body.response);
  t.notOk('patchType' in body.response);
});

t.test('/validate never patches, even when a mutator would have', async (t) => {
  const { body } = await post('/validate', admissionReview({ uid: 'uid-validate-ok', name: 'web', object: plainPod() }));
  t.same(body.response, { uid: 'uid-validate-ok', allowed: true });
});

t.test('warn findings become response.warnings and audit findings become auditAnnotations', async (t) => {
  const object = pod('w', { hostname: 'h', containers: [{ name: 'a', image: 'nginx:latest' }] });
  const { body } = await post('/validate', admissionReview({ uid: 'uid-warn', name: 'w', object }));
  t.equal(body.response.allowed, true);
  t.same(body.response.warnings, ['[warn-latest] spec.containers[0].image uses :latest']);
  t.same(body.response.auditAnnotations, { 'tenantguard.io/audit-hostname': 'spec.hostname is set' });
});

t.test('a DELETE review with "object": null (as the apiserver sends it) is answered', async (t) => {
  const { status, body } = await post('/validate', admissionReview({ uid: 'uid-delete', operation: 'DELETE', name: 'web', object: null, oldObject: plainPod() }));
  t.equal(status, 200);
  t.same(body.response, { uid: 'uid-delete', allowed: true });
});

t.test('an admitted review is applied to the snapshot state; a dryRun one is not', async (t) => {
  const submitted = pod('stored', { containers: [] });
  const mutate = await post('/mutate', admissionReview({ uid: 'uid-apply', name: 'stored', object: submitted }));
  t.equal(fx.view.get('Pod', 'team-a', 'stored'), undefined, 'not stored by /mutate: a validating webhook may still refuse it');
  const mutated = fjp.applyPatch(structuredClone(submitted), JSON.parse(Buffer.from(mutate.body.response.patch, 'base64').toString('utf8'))).newDocument;
  await post('/validate', admissionReview({ uid: 'uid-apply', name: 'stored', object: mutated }));
  t.same(fx.view.get('Pod', 'team-a', 'stored')?.metadata?.labels, { 'tenantguard.io/checked': 'true' }, 'stored as validated, with the mutation applied');
  await post('/validate', admissionReview({ uid: 'uid-dry', name: 'dry', dryRun: true, object: pod('dry', { containers: [] }) }));
  t.equal(fx.view.get('Pod', 'team-a', 'dry'), undefined);
  await post('/validate', admissionReview({ uid: 'uid-denied', name: 'bad', object: pod('bad', { containers: [{ name: 'a', image: 'x:1', securityContext: { privileged: true } }] }) }));
  t.equal(fx.view.get('Pod', 'team-a', 'bad'), undefined, 'a denied object is not stored');
});

t.test('a policy that throws: failure mode fail denies, ignore allows with a warning', async (t) => {
  const explode: PolicyModule = {
    name: 'explode',
    type: 'validate',
    evaluate() {
      throw new Error('cannot read spec');
    },
  };
  for (const failureMode of ['fail', 'ignore'] as const) {
    const f = await startFixture({ modules: [explode], modulePolicies: { explode: { failureMode, timeoutMs: 100, enabled: true } } });
    t.teardown(() => f.close());
    const res = await f.request('/validate', { body: JSON.stringify(admissionReview({ uid: `uid-${failureMode}`, object: plainPod() })) });
    const response = res.json().response;
    t.equal(res.status, 200);
    if (failureMode === 'fail') {
      t.equal(response.allowed, false);
      t.equal(response.status.message, '[explode] policy failed (failure mode fail): cannot read spec');
    } else {
      t.equal(response.allowed, true);
      t.same(response.warnings, ['[explode] policy failed and was skipped (failure mode ignore)']);
    }
    const again = await f.request('/validate', { body: JSON.stringify(admissionReview({ uid: 'uid-again', object: plainPod() })) });
    t.equal(again.status, 200, 'the server keeps serving');
  }
});

t.test('an unexpected engine error answers HTTP 500 JSON, is counted and logged, and the server keeps serving', async (t) => {
  const f = await startFixture({ modules: [denyPrivileged] });
  t.teardown(() => f.close());
  const review = f.engine.review;
  f.engine.review = async () => {
    throw new Error('cluster view corrupted');
  };
  const res = await f.request('/validate', { body: JSON.stringify(admissionReview({ uid: 'uid-500', object: plainPod() })) });
  t.equal(res.status, 500);
  t.equal(res.json().error, 'internal');
  t.match(res.json().message, /^review uid-500 failed; the error is logged with trace id [0-9a-f]{32}$/);
  const logged = f.logs.find((l) => l.msg === 'review failed');
  t.equal(logged?.uid, 'uid-500');
  t.equal(logged?.err?.message, 'cluster view corrupted');
  t.match(await (await f.request('/metrics')).text, /tenantguard_request_errors_total\{reason="internal"\} 1\n/);
  f.engine.review = review;
  const ok = await f.request('/validate', { body: JSON.stringify(admissionReview({ uid: 'uid-after-500', object: plainPod() })) });
  t.equal(ok.status, 200);
  t.equal(ok.json().response.uid, 'uid-after-500');
});
