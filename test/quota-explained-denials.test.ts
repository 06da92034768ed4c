// Through the HTTPS server, as kubectl would show it: a VM over the tenant's memory quota is denied
// with the built-in quota's words, then the VM's charge in its terms (guest memory, each KubeVirt
// overhead term, the KubeVirt version whose formula applied) and the tenant's largest consumer of
// memory; the message stays bounded; a warning (CDI's PVC, never denied) carries the same
// explanation in warning-sized lines.
import t from 'tap';
import { tenantQuota } from '../policies/quota/module.js';
import type { KubeObject } from '../policies/types.js';
import { admissionReview, startFixture } from './helpers/https-fixture.js';

const Gi = 1024 ** 3;
const CDI = 'system:serviceaccount:cdi:cdi-sa';

function vm(name: string, guest: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'team-a', uid: `uid-${name}` },
    spec: { runStrategy: 'Always', template: { spec: { domain: { cpu: { cores: 4 }, memory: { guest }, devices: { tpm: {} }, ...extra } } } },
  };
}

const STATE: KubeObject[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } },
  { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: 'tenant-a' }, spec: { namespaces: ['team-a'], quota: { hard: { 'requests.memory': '20Gi', 'requests.storage': '10Gi' } } } },
  { apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: 'kubevirt' }, spec: { configuration: {} }, status: { observedKubeVirtVersion: 'v1.9.0' } },
  vm('database', '8Gi'),
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a', uid: 'uid-web' },
    spec: { containers: [{ name: 'app', resources: { requests: { memory: '1Gi' } } }] },
    status: { phase: 'Running' },
  },
  {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name: 'disk', namespace: 'team-a', uid: 'uid-disk' },
    spec: { source: { blank: {} }, pvc: { storageClassName: 'standard', resources: { requests: { storage: '9Gi' } } } },
  },
  { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'standard' } },
];

t.test('a VM over its memory quota is denied with its guest memory, the overhead, the KubeVirt version and the largest consumer', async (t) => {
  const fx = await startFixture({ modules: [tenantQuota], state: STATE });
  t.teardown(() => fx.close());
  const big = vm('analytics', '12Gi');
  const res = await fx.request('/validate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admissionReview({ uid: 'deny-1', kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' }, resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' }, name: 'analytics', object: big })),
  });
  t.equal(res.status, 200);
  const response = res.json().response;
  t.equal(response.allowed, false);
  const message: string = response.status.message;
  t.match(message, /^\[tenant-quota\] exceeded quota: tenant-a, requested: requests\.memory=\d+Mi, used: requests\.memory=\d+Mi, limited: requests\.memory=20Gi; /, 'the built-in quota\'s words lead');
  t.match(message, 'requests.memory of VirtualMachine team-a/analytics = ');
  t.match(message, 'guest memory 12Gi', 'the guest memory');
  t.match(message, 'KubeVirt v1.9.0 overhead (', 'the overhead under the KubeVirt version whose formula applied');
  t.match(message, '220Mi virt-launcher, libvirt and qemu processes', 'v1.9\'s fixed process overhead');
  t.match(message, '32Mi 4 vCPU x 8Mi');
  t.match(message, '53Mi TPM');
  t.match(message, /largest users now: \d+Mi VirtualMachine team-a\/database, 1Gi Pod team-a\/web/, 'the largest consumer first, then the next');
  const explanation = message.slice(message.indexOf('; ') + 2);
  t.ok(explanation.length < 600, `the explanation is bounded (${explanation.length} characters)`);
  // The overhead terms add up: 12Gi + overhead = the requested amount the built-in phrase names.
  const requested = Number(/requested: requests\.memory=(\d+)Mi/.exec(message)![1]) * 1024 * 1024;
  const overhead = Number(/KubeVirt v1\.9\.0 overhead \(/.test(message) && /(\d+)Mi KubeVirt v1\.9\.0 overhead/.exec(message)![1]) * 1024 * 1024;
  t.equal(requested, 12 * Gi + overhead, 'guest memory plus the overhead is the charge');
});

t.test('a tenant that cannot be charged more is told what is only reserved', async (t) => {
  const fx = await startFixture({ modules: [tenantQuota], state: STATE, applyAdmitted: false });
  t.teardown(() => fx.close());
  const review = (uid: string, name: string, guest: string) =>
    fx.request('/validate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admissionReview({ uid, kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' }, resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' }, name, object: vm(name, guest) })),
    });
  t.equal((await review('r-1', 'batch', '4Gi')).json().response.allowed, true, 'admitted and reserved, not yet observed');
  const denied = (await review('r-2', 'analytics', '12Gi')).json().response;
  t.equal(denied.allowed, false);
  t.match(denied.status.message, /reserved, not yet observed: \d+Mi \(\d+Mi VirtualMachine team-a\/batch\)/);
});

t.test('a warning carries the same explanation, in lines a warning can hold', async (t) => {
  const fx = await startFixture({ modules: [tenantQuota], state: STATE, settings: { kubevirtServiceAccounts: [], cdiServiceAccounts: [CDI] } });
  t.teardown(() => fx.close());
  // CDI's PVC for the DataVolume, larger than foreseen (a StorageProfile minimum): never denied.
  const pvc: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'disk', namespace: 'team-a', ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'disk', uid: 'uid-disk', controller: true }] },
    spec: { storageClassName: 'standard', resources: { requests: { storage: '12Gi' } } },
  };
  const res = await fx.request('/validate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admissionReview({ uid: 'warn-1', kind: { group: '', version: 'v1', kind: 'PersistentVolumeClaim' }, resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' }, name: 'disk', object: pvc, userInfo: { username: CDI } })),
  });
  const response = res.json().response;
  t.equal(response.allowed, true, 'CDI\'s own PVC is never denied');
  const warnings: string[] = response.warnings;
  t.ok(warnings.length > 1, 'several lines');
  t.ok(warnings.every((w) => w.length < 120 && w.startsWith('[tenant-quota] ')), 'each under 120 characters');
  const joined = warnings.map((w) => w.slice('[tenant-quota] '.length)).join(' ');
  t.match(joined, 'exceeded quota: tenant-a, requested: requests.storage=3Gi');
  t.match(joined, 'requests.storage of PersistentVolumeClaim team-a/disk = 3Gi: claim 12Gi (class standard) - 9Gi already paid by DataVolume disk', 'what CDI\'s PVC adds over its DataVolume, term by term');
  t.match(joined, 'largest users now: 9Gi DataVolume team-a/disk');
});
