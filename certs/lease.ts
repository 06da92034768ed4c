// One writer among the replicas: leader election over a coordination.k8s.io/v1 Lease, as
// client-go's leaderelection does it (kubernetes/kubernetes
// staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go, tryAcquireOrRenew): get the
// Lease; take it when it is free, ours, or not renewed for leaseDuration as measured on *our*
// clock since we last saw it change (so skewed clocks between nodes do not matter); every write
// carries the resourceVersion read, so of two replicas racing for it exactly one wins (409).
import { apiStatusOf, type ClusterApi } from './cluster-api.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  /** holderIdentity: the pod name. */
  identity: string;
  leaseDurationMs: number;
  clock?: () => Date;
}

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (k8s.io/apimachinery micro_time.go). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseElection {
  private readonly clock: () => Date;
  private readonly path: string;
  /** The last record seen and when (on our clock) it was first seen. */
  private observed: { record: string; at: number } | undefined;
  private leader = false;
  private holder: string | undefined;

  constructor(
    private readonly client: ClusterApi,
    private readonly opts: LeaseOptions,
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.name}`;
  }

  /** Whether the last attempt holds the Lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Who held the Lease at the last attempt (undefined: nobody, or not read yet). */
  get currentHolder(): string | undefined {
    return this.holder;
  }

  /** Acquires or renews the Lease; true when this replica holds it now. API errors are thrown. */
  async tryAcquireOrRenew(): Promise<boolean> {
    this.leader = false;
    const now = this.clock();
    let lease: LeaseObject;
    try {
      lease = await this.client.request<LeaseObject>('GET', this.path, { operation: 'get lease' });
    } catch (err) {
      if (apiStatusOf(err) !== 404) throw err;
      return this.create(now);
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.leaseDurationSeconds ?? 0]);
    if (this.observed?.record !== record) this.observed = { record, at: now.getTime() };
    this.holder = spec.holderIdentity || undefined;
    const ours = spec.holderIdentity === this.opts.identity;
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (!ours && spec.holderIdentity && this.observed.at + durationMs > now.getTime()) return false;

    const next: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease.metadata },
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: this.durationSeconds(),
        acquireTime: ours && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
    try {
      await this.client.request('PUT', this.path, { body: next, operation: 'update lease' });
    } catch (err) {
      if (apiStatusOf(err) === 409) return false;
      throw err;
    }
    return this.won(next, now);
  }

  /** Gives the Lease up (on shutdown), so another replica takes over without waiting for it to expire. */
  async release(): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    const lease = await this.client.request<LeaseObject>('GET', this.path, { operation: 'get lease' });
    if (lease.spec?.holderIdentity !== this.opts.identity) return;
    // As client-go's release: no holder, and a one-second duration.
    const spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.clock()) };
    await this.client.request('PUT', this.path, { body: { ...lease, spec }, operation: 'release lease' });
  }

  private durationSeconds(): number {
    return Math.max(1, Math.ceil(this.opts.leaseDurationMs / 1000));
  }

  private async create(now: Date): Promise<boolean> {
    const lease: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.opts.name, namespace: this.opts.namespace },
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: this.durationSeconds(),
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    };
    try {
      await this.client.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`, { body: lease, operation: 'create lease' });
    } catch (err) {
      if (apiStatusOf(err) === 409) return false;
      throw err;
    }
    return this.won(lease, now);
  }

  private won(lease: LeaseObject, now: Date): boolean {
    const spec = lease.spec!;
    this.observed = { record: JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]), at: now.getTime() };
    this.holder = this.opts.identity;
    this.leader = true;
    return true;
  }
}
