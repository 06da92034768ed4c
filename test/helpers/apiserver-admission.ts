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
import { randomUUID } from 'node:crypto';
import type { AdmissionRequest, KubeObject, Operation } from '../../policies/types.js';
import type { FakeApiServer } from './fake-apiserver.js';

export interface Verdict {
  allowed: boolean;
  status?: { message: string };
}

export type ValidatingWebhook = (request: AdmissionRequest) => Promise<Verdict>;

const GVR: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  VirtualMachine: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
};

export interface CreateOptions {
  user?: string;
  /** A later webhook (or etcd) refuses the object after this one admitted it: it is never stored. */
  refusedLater?: boolean;
}

export class ApiserverAdmission {
  /** Every review sent, in order. */
  readonly reviews: AdmissionRequest[] = [];

  constructor(
    private readonly api: FakeApiServer,
    private readonly webhook: ValidatingWebhook,
  ) {}

  private request(operation: Operation, object: KubeObject | null, oldObject: KubeObject | null, user: string): AdmissionRequest {
    const subject = (object ?? oldObject)!;
    const gvr = GVR[subject.kind!]!;
    const request: AdmissionRequest = {
      uid: randomUUID(),
      kind: { group: gvr.group, version: gvr.version, kind: subject.kind! },
      resource: gvr,
      name: subject.metadata!.name!,
      namespace: subject.metadata!.namespace!,
      operation,
      userInfo: { username: user },
      object,
      oldObject,
      dryRun: false,
    };
    this.reviews.push(request);
    return request;
  }

  /** A CREATE: generated name and uid, reviewed, then stored unless refused (here or later). */
  async create(obj: KubeObject, opts: CreateOptions = {}): Promise<Verdict & { name: string }> {
    const object = structuredClone(obj);
    const meta = (object.metadata ??= {});
    if (!meta.name) meta.name = `${meta.generateName ?? 'obj-'}${randomUUID().slice(0, 5)}`;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const verdict = await this.webhook(this.request('CREATE', object, null, opts.user ?? 'alice'));
    if (verdict.allowed && !opts.refusedLater) this.api.apply(object);
    return { ...verdict, name: meta.name };
  }

  /**
   * `kubectl delete pod`: the graceful DELETE review, deletionTimestamp set, then the kubelet's final
   * DELETE reviewed again (`finalReviews` times: a retry or a stale cache repeats it) and the pod removed.
   */
  async deletePod(namespace: string, name: string, opts: { user?: string; graceSeconds?: number; finalReviews?: number } = {}): Promise<Verdict[]> {
    const current = this.api.get('v1', 'Pod', namespace, name);
    if (!current) throw new Error(`pod ${namespace}/${name} does not exist`);
    const verdicts = [await this.webhook(this.request('DELETE', null, current, opts.user ?? 'alice'))];
    if (!verdicts[0]!.allowed) return verdicts;
    const grace = opts.graceSeconds ?? 30;
    const terminating = { ...current, metadata: { ...current.metadata, deletionTimestamp: new Date(Date.now() + grace * 1000).toISOString(), deletionGracePeriodSeconds: grace } };
    this.api.apply(terminating);
    for (let i = 0; i < (opts.finalReviews ?? 1); i++) {
      verdicts.push(await this.webhook(this.request('DELETE', null, this.api.get('v1', 'Pod', namespace, name)!, 'system:node:node-1')));
    }
    this.api.remove('v1', 'Pod', namespace, name);
    return verdicts;
  }
}
