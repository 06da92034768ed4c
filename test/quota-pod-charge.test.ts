import t from 'tap';
import { podCharge, podLimits, podRequests } from '../policies/quota/pod-charge.js';
import type { KubeObject } from '../policies/types.js';

const Mi = 1024 * 1024;

type Res = { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
const c = (name: string, resources: Res, restartPolicy?: string) => ({ name, image: 'x', resources, ...(restartPolicy ? { restartPolicy } : {}) });

function pod(spec: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'team-a' }, spec, ...extra };
}

t.test('app containers add up', async (t) => {
  const p = pod({ containers: [c('a', { requests: { cpu: '100m', memory: '64Mi' } }), c('b', { requests: { cpu: '0.25', memory: '32Mi' } })] });
  t.same(podRequests(p), { cpu: 350, memory: 96 * Mi });
});

t.test('sidecar-aware init rule (KEP-753): max(steady state, largest init phase with earlier sidecars)', async (t) => {
  const p = pod({
    containers: [c('app', { requests: { cpu: '100m' } })],
    initContainers: [
      c('sidecar-1', { requests: { cpu: '50m' } }, 'Always'),
      c('migrate', { requests: { cpu: '200m' } }), // runs next to sidecar-1: 250m
      c('sidecar-2', { requests: { cpu: '30m' } }, 'Always'),
    ],
  });
  t.equal(podRequests(p).cpu, 250, 'the init phase (200m + 50m) beats the steady state (100 + 50 + 30)');
  const steady = pod({
    containers: [c('app', { requests: { cpu: '1' } })],
    initContainers: [c('sidecar', { requests: { cpu: '500m' } }, 'Always'), c('setup', { requests: { cpu: '1200m' } })],
  });
  t.equal(podRequests(steady).cpu, 1700, 'setup + sidecar (1700m) beats app + sidecar (1500m)');
  const plain = pod({ containers: [c('app', { requests: { cpu: '1' } })], initContainers: [c('setup', { requests: { cpu: '2' } })] });
  t.equal(podRequests(plain).cpu, 2000, 'a plain init container larger than the app sets the pod request');
});

t.test('spec.overhead adds to requests, and to limits only where a limit is set', async (t) => {
  const p = pod({
    containers: [c('a', { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2' } })],
    overhead: { cpu: '250m', memory: '120Mi' },
  });
  t.same(podRequests(p), { cpu: 1250, memory: 1024 * Mi + 120 * Mi });
  t.same(podLimits(p), { cpu: 2250, memory: 0 }, 'no memory limit anywhere: the overhead does not create one');
});

t.test('a container with only limits requests its limits (API defaulting), so snapshot files cost what the cluster charges', async (t) => {
  const p = pod({ containers: [c('a', { limits: { cpu: '500m', memory: '256Mi' } })] });
  t.same(podRequests(p), { cpu: 500, memory: 256 * Mi });
  t.same(podLimits(p), { cpu: 500, memory: 256 * Mi });
});

t.test('pod-level resources replace the container aggregate for cpu and memory', async (t) => {
  const p = pod({
    resources: { requests: { cpu: '2' }, limits: { cpu: '4', memory: '2Gi' } },
    containers: [c('a', { requests: { cpu: '100m', memory: '128Mi' } })],
  });
  t.same(podRequests(p), { cpu: 2000, memory: 128 * Mi });
  t.same(podLimits(p), { cpu: 4000, memory: 2048 * Mi });
});

t.test('terminal pods and pods past their deletion grace hold no compute but still count as pods', async (t) => {
  const spec = { containers: [c('a', { requests: { cpu: '1', memory: '1Gi' } })] };
  const running = podCharge(pod(spec));
  t.equal(running['count/pods'], 1);
  t.equal(running['requests.cpu'], 1000);
  for (const phase of ['Succeeded', 'Failed']) {
    const done = podCharge(pod(spec, { status: { phase } }));
    t.same([done['count/pods'], done['requests.cpu'], done['requests.memory']], [1, 0, 0], phase);
  }
  const terminating = pod(spec);
  terminating.metadata = { ...terminating.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 };
  const deadline = Date.parse('2026-01-01T00:00:30Z');
  t.equal(podCharge(terminating, deadline - 1)['requests.cpu'], 1000, 'within the grace period');
  t.equal(podCharge(terminating, deadline + 1)['requests.cpu'], 0, 'past the grace period');
  t.equal(podCharge(terminating)['requests.cpu'], 1000, 'without a clock a terminating pod costs until it is gone');
});

t.test('a bad quantity names the field it came from', async (t) => {
  const p = pod({ containers: [c('a', { requests: { cpu: '1' } }), c('b', { limits: { memory: '12Gb' } })] });
  t.throws(() => podCharge(p), { message: /^spec\.containers\[1\]\.resources\.limits\.memory: invalid quantity "12Gb"/ });
});

t.test('hugepages are charged as requests.hugepages-<size>, by the same init-container rule', async (t) => {
  const p = pod({
    containers: [c('a', { requests: { 'hugepages-2Mi': '64Mi' }, limits: { 'hugepages-2Mi': '64Mi' } }), c('b', { limits: { 'hugepages-1Gi': '2Gi' } })],
    initContainers: [c('init', { limits: { 'hugepages-2Mi': '128Mi' } })],
  });
  const charge = podCharge(p);
  t.equal(charge['requests.hugepages-2Mi'], 128 * Mi, 'the init container needs more than the app containers');
  t.equal(charge['requests.hugepages-1Gi'], 2048 * Mi, 'a limit alone is the request');
  t.equal(podCharge(pod({ containers: [c('a', {})] }))['requests.hugepages-2Mi'], undefined, 'none asked, none charged');
});

t.test("the Tenant's defaultRequests stand in for what a container leaves out, never for what it states", async (t) => {
  const p = pod({ containers: [c('bare', {}), c('cpu-only', { requests: { cpu: '1' } })] });
  const charge = podCharge(p, undefined, { cpu: 250, memory: 128 * Mi });
  t.same([charge['requests.cpu'], charge['requests.memory']], [1250, 256 * Mi]);
  t.same([podCharge(p)['requests.cpu'], podCharge(p)['requests.memory']], [1000, 0], 'without defaults');
});

t.test('no amount of a pod is ever negative', async (t) => {
  const charge = podCharge(pod({ containers: [c('a', { requests: { cpu: '-4', memory: '-1Pi' }, limits: { cpu: '-4', memory: '-1Pi' } })] }));
  for (const [r, v] of Object.entries(charge)) t.ok(v >= 0, `${r} = ${v}`);
});
