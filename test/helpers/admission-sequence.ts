// A tenant's namespace behind the HTTPS admission server with every module, in snapshot mode: each
// review is sent as the apiserver sends it (/mutate, then /validate with the patched object), and
// an admitted one changes the state, so a sequence of reviews plays out as on a cluster.
import type { Test } from 'tap';
import fjp from 'fast-json-patch';
import { usageByTenant } from '../../policies/quota/usage.js';
import { MODULES } from '../../policies/registry.js';
import type { AdmissionRequest, KubeObject, ModuleSettings, TenantSpec } from '../../policies/types.js';
import { DEFAULT_CONFIG } from '../../server/config.js';
import { admissionReview, startFixture, type Fixture } from './https-fixture.js';

export const NS = 'team-a';
export const TENANT = 'tenant-a';
export const KUBEVIRT_SA = DEFAULT_CONFIG.kubevirt.serviceAccounts[0]!;
export const CDI_SA = DEFAULT_CONFIG.cdi.serviceAccounts[0]!;
export const SETTINGS: ModuleSettings = { kubevirtServiceAccounts: [KUBEVIRT_SA], cdiServiceAccounts: [CDI_SA] };

/** Where each kind is served, for the review's resource. */
const RESOURCES: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  PersistentVolumeClaim: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
  VirtualMachineInstance: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstances' },
  VirtualMachineInstanceReplicaSet: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancereplicasets' },
  VirtualMachinePool: { group: 'pool.kubevirt.io', version: 'v1beta1', resource: 'virtualmachinepools' },
  DataVolume: { group: 'cdi.kubevirt.io', version: 'v1beta1', resource: 'datavolumes' },
};

/** The AdmissionRequest the apiserver sends for `operation` on `object` (or on `old`, for a DELETE) in NS. */
export function reviewRequest(uid: string, operation: AdmissionRequest['operation'], object: KubeObject | undefined, opts: { old?: KubeObject; user?: string } = {}): AdmissionRequest {
  const subject = (object ?? opts.old)!;
  const resource = RESOURCES[subject.kind!]!;
  return {
    uid,
    kind: { group: resource.group, version: resource.version, kind: subject.kind! },
    resource,
    name: subject.metadata?.name,
    namespace: NS,
    operation,
    userInfo: { username: opts.user ?? 'alice', groups: ['system:authenticated'] },
    object: object ?? null,
    oldObject: opts.old ?? null,
  };
}

export interface Outcome {
  allowed: boolean;
  message: string;
  warnings: string[];
  /** The object as persisted: the request's object with the mutating patch applied. */
  object?: KubeObject;
}

export interface Sequence {
  fx: Fixture;
  send(operation: AdmissionRequest['operation'], object: KubeObject | undefined, opts?: { old?: KubeObject; user?: string }): Promise<Outcome>;
  /** The ledger's usage of the tenant. */
  used(): Record<string, number>;
  /** Usage recomputed from the objects that exist (what the reconcile would write). */
  observed(): Record<string, number>;
}

let uids = 0;

export async function admissionSequence(t: Test, state: KubeObject[], spec: TenantSpec): Promise<Sequence> {
  const fx = await startFixture({
    modules: [...MODULES],
    modulePolicies: DEFAULT_CONFIG.modules,
    settings: SETTINGS,
    // As `serve` in snapshot mode: only the validating webhook's verdict changes the state.
    applyAdmitted: false,
    state: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name: TENANT }, spec: { namespaces: [NS], ...spec } },
      ...state,
    ],
  });
  t.teardown(() => fx.close());
  async function post(path: string, request: AdmissionRequest) {
    const res = await fx.request(path, { body: JSON.stringify(admissionReview(request)) });
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${res.text}`);
    return res.json().response as { allowed: boolean; status?: { message: string }; patch?: string; warnings?: string[] };
  }
  return {
    fx,
    used: () => fx.ledger.used(TENANT),
    observed: () => usageByTenant(fx.view, SETTINGS).get(TENANT) ?? {},
    async send(operation, object, opts = {}) {
      const request = reviewRequest(`seq-${++uids}`, operation, object, opts);
      let final = object;
      // The mutating webhook sees creates only (manifests/webhook-mutating.yaml).
      if (object && operation === 'CREATE') {
        const m = await post('/mutate', request);
        if (m.patch) final = fjp.applyPatch(structuredClone(object), JSON.parse(Buffer.from(m.patch, 'base64').toString())).newDocument;
      }
      const v = await post('/validate', { ...request, uid: `${request.uid}-v`, object: final ?? null });
      if (v.allowed) fx.view.apply(request, final);
      return { allowed: v.allowed, message: v.status?.message ?? '', warnings: v.warnings ?? [], object: final };
    },
  };
}
