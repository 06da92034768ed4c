// What kube-apiserver does around a validating webhook, over the fake apiserver's state, so that
// quota tests see the reviews a real cluster sends rather than idealised ones:
// - CREATE: the name is generated from generateName and the uid assigned before validating
//   admission (k8s.io/apiserver/pkg/registry/generic/registry/store.go: BeforeCreate runs before
//   the createValidation callback), so the webhook sees both; an admitted object may still never be
//   stored (a later webhook or etcd refuses it).
// - Pod DELETE: graceful deletion is one review that only sets deletionTimestamp (the pod keeps
//   running), then the kubelet's final DELETE with grace 0 is reviewed again with a new uid
//   (pkg/registry/core/pod/storage and the kubelet's status manager); a stale cache or a retry
//   can send it once more.
// - Given the rendered webhook configurations (an AdmissionChain), each request goes to the webhooks
//   the apiserver would call (helpers/webhook-match.ts): rules, namespaceSelector against the
//   namespace's labels as stored at that moment (a Namespace CREATE/UPDATE: the object's own), and
//   matchConditions; mutating webhooks first, in order, each seeing the previous patches, then the
//   validating ones. While tenantguard is `down`, each webhook's failurePolicy decides.
import { randomUUID } from 'node:crypto';
import fjp from 'fast-json-patch';
import type { AdmissionRequest, KubeObject, Operation, PatchOp } from '../../policies/types.js';
import type { FakeApiServer } from './fake-apiserver.js';
import { shouldCall, type Webhook } from './webhook-match.js';

export interface Verdict {
  allowed: boolean;
  status?: { message: string };
}

export type ValidatingWebhook = (request: AdmissionRequest) => Promise<Verdict>;
export type MutatingWebhook = (request: AdmissionRequest) => Promise<Verdict & { patch?: PatchOp[] }>;

/** tenantguard's webhook configurations and the handlers behind its /mutate and /validate paths. */
export interface AdmissionChain {
  mutating: Webhook[];
  validating: Webhook[];
  mutate: MutatingWebhook;
  validate: ValidatingWebhook;
  /** tenantguard unreachable: every call fails and the webhook's failurePolicy decides. */
  down?: boolean;
}

const GVR: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  Namespace: { group: '', version: 'v1', resource: 'namespaces' },
  PersistentVolumeClaim: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
};

export interface CreateOptions {
  user?: string;
  groups?: string[];
  /** A later webhook (or etcd) refuses the object after this one admitted it: it is never stored. */
  refusedLater?: boolean;
}

export class ApiserverAdmission {
  /** Every review sent, in order. */
  readonly reviews: AdmissionRequest[] = [];

  /** The chain's webhook configurations, or one validating webhook called for every request. */
  constructor(
    private readonly api: FakeApiServer,
    private readonly webhook: ValidatingWebhook | AdmissionChain,
  ) {}

  private request(operation: Operation, object: KubeObject | null, oldObject: KubeObject | null, user: string, groups?: string[]): AdmissionRequest {
    const subject = (object ?? oldObject)!;
    const gvr = GVR[subject.kind!]!;
    // The namespace of a Namespace request is its own name (k8s.io/apiserver
    // pkg/admission/plugin/webhook/predicates/rules/rules.go, scope()).
    const namespace = subject.kind === 'Namespace' ? subject.metadata!.name! : subject.metadata!.namespace!;
    const request: AdmissionRequest = {
      uid: randomUUID(),
      kind: { group: gvr.group, version: gvr.version, kind: subject.kind! },
      resource: gvr,
      name: subject.metadata!.name!,
      namespace,
      operation,
      userInfo: { username: user, ...(groups ? { groups } : {}) },
      object,
      oldObject,
      dryRun: false,
    };
    this.reviews.push(request);
    return request;
  }

  /** The admission chain for one request: the verdict and the object as mutated. */
  private async admit(request: AdmissionRequest): Promise<Verdict> {
    const chain = this.webhook;
    if (typeof chain === 'function') return chain(request);
    const labels = (name: string) => {
      const ns = this.api.get('v1', 'Namespace', undefined, name);
      return ns === undefined ? undefined : (ns.metadata?.labels ?? {});
    };
    const call = async (hook: Webhook, handler: (r: AdmissionRequest) => Promise<Verdict & { patch?: PatchOp[] }>): Promise<(Verdict & { patch?: PatchOp[] }) | undefined> => {
      const decision = shouldCall(hook, request, labels);
      if (decision === 'skip') return undefined;
      if (decision !== 'call') return { allowed: false, status: { message: decision.refuse } };
      if (chain.down) {
        return hook.failurePolicy === 'Fail'
          ? { allowed: false, status: { message: `failed calling webhook "${hook.name}": connection refused` } }
          : undefined;
      }
      // Every webhook of one admission sees the same request uid.
      return handler(request);
    };
    for (const hook of chain.mutating) {
      const verdict = await call(hook, chain.mutate);
      if (verdict === undefined) continue;
      if (!verdict.allowed) return verdict;
      if (verdict.patch && request.object) request.object = fjp.applyPatch(structuredClone(request.object), verdict.patch as fjp.Operation[]).newDocument as KubeObject;
    }
    for (const hook of chain.validating) {
      const verdict = await call(hook, chain.validate);
      if (verdict !== undefined && !verdict.allowed) return verdict;
    }
    return { allowed: true };
  }

  /** A CREATE: generated name and uid, reviewed, then stored (as mutated) unless refused (here or later). */
  async create(obj: KubeObject, opts: CreateOptions = {}): Promise<Verdict & { name: string }> {
    const object = structuredClone(obj);
    const meta = (object.metadata ??= {});
    if (!meta.name) meta.name = `${meta.generateName ?? 'obj-'}${randomUUID().slice(0, 5)}`;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // Defaulted before admission (pkg/apis/core/v1/defaults.go SetDefaults_Namespace).
    if (object.kind === 'Namespace') meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': meta.name };
    const request = this.request('CREATE', object, null, opts.user ?? 'alice', opts.groups);
    const verdict = await this.admit(request);
    if (verdict.allowed && !opts.refusedLater) this.api.apply(request.object!);
    return { ...verdict, name: meta.name };
  }

  /** An UPDATE of a stored object to `obj`, reviewed, then stored as mutated. */
  async update(obj: KubeObject, opts: CreateOptions = {}): Promise<Verdict> {
    const namespace = obj.kind === 'Namespace' ? undefined : obj.metadata?.namespace;
    const current = this.api.get(obj.apiVersion!, obj.kind!, namespace, obj.metadata!.name!);
    if (!current) throw new Error(`${obj.kind} ${obj.metadata?.name} does not exist`);
    const object = structuredClone(obj);
    object.metadata = { ...object.metadata, uid: current.metadata!.uid, resourceVersion: current.metadata!.resourceVersion };
    if (object.kind === 'Namespace') object.metadata.labels = { ...object.metadata.labels, 'kubernetes.io/metadata.name': object.metadata.name! };
    const request = this.request('UPDATE', object, current, opts.user ?? 'alice', opts.groups);
    const verdict = await this.admit(request);
    if (verdict.allowed) this.api.apply(request.object!);
    return verdict;
  }

  /**
   * `kubectl delete pod`: the graceful DELETE review, deletionTimestamp set, then the kubelet's final
   * DELETE reviewed again (`finalReviews` times: a retry or a stale cache repeats it) and the pod removed.
   */
  async deletePod(namespace: string, name: string, opts: { user?: string; graceSeconds?: number; finalReviews?: number } = {}): Promise<Verdict[]> {
    const current = this.api.get('v1', 'Pod', namespace, name);
    if (!current) throw new Error(`pod ${namespace}/${name} does not exist`);
    const verdicts = [await this.admit(this.request('DELETE', null, current, opts.user ?? 'alice'))];
    if (!verdicts[0]!.allowed) return verdicts;
    const grace = opts.graceSeconds ?? 30;
    const terminating = { ...current, metadata: { ...current.metadata, deletionTimestamp: new Date(Date.now() + grace * 1000).toISOString(), deletionGracePeriodSeconds: grace } };
    this.api.apply(terminating);
    for (let i = 0; i < (opts.finalReviews ?? 1); i++) {
      verdicts.push(await this.admit(this.request('DELETE', null, this.api.get('v1', 'Pod', namespace, name)!, 'system:node:node-1', ['system:nodes', 'system:authenticated'])));
    }
    this.api.remove('v1', 'Pod', namespace, name);
    return verdicts;
  }
}
