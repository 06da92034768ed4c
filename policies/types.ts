// The contract between the engine, the policy modules and whatever serves them (HTTP server, replay,
// audit). Policy modules are pure functions of these inputs: no I/O except through ClusterView's
// explicitly async methods and the QuotaLedger the engine hands them.

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  creationTimestamp?: string;
  finalizers?: string[];
}

/** Any Kubernetes object as JSON. Modules narrow `spec`/`status` to the kinds they judge. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: any;
  status?: any;
  [field: string]: unknown;
}

/** admission.k8s.io/v1 AdmissionRequest, after envelope validation. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionStatus {
  code: number;
  reason?: string;
  message: string;
}

/** admission.k8s.io/v1 AdmissionResponse as tenantguard emits it. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export type Mode = 'enforce' | 'warn' | 'audit';
export type FailureMode = 'fail' | 'ignore';
export type ModuleType = 'mutate' | 'validate';

/** RFC 6902 operations tenantguard emits. Paths are RFC 6901 pointers. */
export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/**
 * One violated rule. The module decides the mode from the tenant's settings (PSA namespace labels
 * can ask for enforce at one level and warn at another at once, so mode is per finding).
 */
export interface Finding {
  mode: Mode;
  /** Stable rule id, e.g. the PSS control name "Privileged Containers" or "requests.cpu". */
  rule: string;
  /** Human message naming the field paths involved. */
  message: string;
  /**
   * The message as lines short enough for a warning each (SPEC 3: under 120 characters): shown
   * instead of the one truncated warning when the finding warns. A long explanation uses it.
   */
  warningLines?: string[];
}

export interface ModuleResult {
  /** Rule violations; the engine turns them into denial / warning / audit annotation by mode. */
  findings?: Finding[];
  /** Mutators only: operations relative to the object the module was given. */
  patch?: PatchOp[];
  /** Informational warnings that are not rule violations (e.g. "last NetworkPolicy deleted"). */
  warnings?: string[];
  /** Short value for the audit annotation `tenantguard.io/<module>` (e.g. why it was skipped). */
  annotation?: string;
  /**
   * A second phase run only when every validator allowed the request: the quota reservation.
   * It returns findings (a quota exceeded at commit time under concurrency) like evaluate does.
   */
  commit?: (ctx: CommitContext) => Promise<Finding[]>;
}

export interface CommitContext {
  dryRun: boolean;
  /** Aborted when the module's time budget runs out. */
  signal: AbortSignal;
}

/** The tenant that owns the request's namespace, with its settings merged over the defaults. */
export interface TenantBinding {
  /** Tenant name, or undefined when the namespace falls to the server config's defaultTenant. */
  name: string | undefined;
  spec: TenantSpec;
  /** Other Tenants that also select this namespace (a configuration error, SPEC 4). */
  conflicts: string[];
  /**
   * Every Tenant claiming the namespace with its own quota section (defaults filled in): each is
   * charged for what runs here and judged against its own hard. Absent: `name` with `spec.quota`.
   */
  quotas?: Array<{ tenant: string; quota: TenantSpec['quota'] }>;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/** spec of tenantguard.io/v1alpha1 Tenant (SPEC 4). Every section optional. */
export interface TenantSpec {
  namespaceSelector?: LabelSelector;
  namespaces?: string[];
  quota?: {
    hard?: Record<string, string>;
    vmCharging?: 'pod' | 'guest';
    /** Charged in place of the cpu/memory requests a pod leaves out (SPEC 6.4: otherwise such a pod is denied). */
    defaultRequests?: { cpu?: string; memory?: string };
  };
  podSecurity?: { level: PodSecurityLevel; mode: Mode; version?: string };
  defaults?: {
    seccomp?: boolean;
    runAsNonRoot?: boolean;
    dropAllCapabilities?: boolean;
    allowPrivilegeEscalation?: boolean;
    seLinuxLevel?: string;
  };
  networkPolicy?: { mode: Mode | 'off'; require?: Array<'Ingress' | 'Egress'> };
  vmSecurity?: {
    mode: Mode | 'off';
    allowHostDevices?: string[];
    allowHookSidecars?: boolean;
    allowDedicatedCpu?: boolean;
  };
}

/** Kinds the cluster view keeps. KubeVirt kinds are absent on clusters without KubeVirt. */
export type ViewKind =
  | 'Namespace'
  | 'NetworkPolicy'
  | 'Pod'
  | 'Tenant'
  | 'VirtualMachine'
  | 'VirtualMachineInstance'
  | 'VirtualMachineInstanceReplicaSet'
  | 'VirtualMachinePool'
  | 'VirtualMachineInstanceMigration'
  | 'VirtualMachineInstancetype'
  | 'VirtualMachineClusterInstancetype'
  | 'ControllerRevision'
  | 'KubeVirt'
  | 'PersistentVolumeClaim'
  | 'StorageClass'
  | 'DataVolume'
  | 'CDIConfig'
  | 'VolumeSnapshot';

/**
 * Read-only view of the cluster. Snapshot (a directory) and live (informers) implement it.
 * Lookups are O(1) or O(objects in one namespace); nothing walks the whole cluster per request.
 * Objects may be projections: only the fields policies read are guaranteed to be present.
 */
export interface ClusterView {
  get(kind: ViewKind, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Objects of a kind in one namespace (or cluster-scoped kinds when namespace is undefined). */
  list(kind: ViewKind, namespace?: string): readonly KubeObject[];
  /** The tenant owning a namespace, resolved from Tenants and namespace labels. */
  tenantOf(namespace: string): TenantBinding;
  /**
   * Authoritative list from the API server, for decisions that must not rest on a stale cache
   * (SPEC 6.5). Absent in snapshot mode, where the snapshot is the truth.
   */
  listLive?(kind: ViewKind, namespace: string, signal: AbortSignal): Promise<KubeObject[]>;
  /**
   * One object as the API server has it now (undefined: it does not exist), for a miss the watch
   * may not have delivered yet (a launcher pod created before its VMI's event). Absent in snapshot mode.
   */
  getLive?(kind: ViewKind, namespace: string, name: string, signal: AbortSignal): Promise<KubeObject | undefined>;
  /**
   * A review for a namespace the cache cannot account for (not seen yet, or seen neither claimed
   * nor opted in, while the apiserver sent the review because its labels say otherwise): reads the
   * namespace from the apiserver into the view. Undefined when the cache accounts for it, so the
   * common path stays synchronous. Absent in snapshot mode.
   */
  refreshNamespace?(namespace: string, signal: AbortSignal): Promise<void> | undefined;
  /**
   * The namespace CDI is installed in, as its install says (server/cluster/discovery.ts
   * cdiInstallNamespace); undefined when unknown (no CDI, not found yet, or snapshot mode).
   */
  cdiNamespace?(): string | undefined;
}

/** Settings the engine passes to modules from the server config (not per tenant). */
export interface ModuleSettings {
  /** Usernames of KubeVirt's controllers (virt-controller creates virt-launcher pods). */
  kubevirtServiceAccounts: string[];
  /**
   * Usernames of CDI's controller (cdi-deployment creates the PVC of a DataVolume). Absent: no
   * PVC is ever taken for CDI's own.
   */
  cdiServiceAccounts?: string[];
}

export interface PolicyInput {
  request: AdmissionRequest;
  /** For mutators: the object with earlier mutators' patches applied. For validators: final. */
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  tenant: TenantBinding;
  view: ClusterView;
  settings: ModuleSettings;
  ledger: QuotaLedger;
}

export interface PolicyModule {
  /** kebab-case; used in audit annotation keys, metrics labels, config keys and span names. */
  name: string;
  type: ModuleType;
  evaluate(input: PolicyInput): ModuleResult | Promise<ModuleResult>;
}

/** Integer amounts in canonical units: CPU in millicores, memory in bytes, counts in units. */
export type ResourceAmounts = Record<string, number>;

/** The object a reservation is for, as the review names it (validating webhooks see generated names). */
export interface ReservedObject {
  kind: ViewKind;
  namespace: string;
  name: string;
  /** metadata.uid where the review carries one: a same-named older object is not this one. */
  uid?: string;
  /**
   * UPDATE: the resourceVersion the change was made against; the change is observed once the view
   * holds the object at another resourceVersion. Absent for a CREATE: observed once it exists.
   */
  updatedFrom?: string;
}

/**
 * An increase admitted but not yet observed (SPEC 6.4): usage = observed + reserved. It ends when the
 * cluster view observes its object or after the ledger's TTL; nothing a review says frees quota.
 */
export interface Reservation {
  tenant: string;
  /** The admission request uid: a retried or replayed review, on any replica, reserves once. */
  uid: string;
  object: ReservedObject;
  /** Only the positive increases this request asks for. */
  increase: ResourceAmounts;
  hard: ResourceAmounts;
}

export type ReservationOutcome =
  | { ok: true; used: ResourceAmounts }
  | { ok: false; exceeded: Array<{ resource: string; requested: number; used: number; hard: number }> }
  | { ok: false; exceeded?: undefined; tooMany: { inFlight: number; limit: number } };

/** One object's share of a resource in a tenant's usage. */
export interface QuotaConsumer {
  kind: string;
  namespace: string;
  name: string;
  amount: number;
}

/** Who uses a resource of a tenant: the largest observed objects and the reservations not yet observed. */
export interface QuotaConsumers {
  top: QuotaConsumer[];
  /** Reservations holding the resource, largest first (kind, namespace, name of the object they wait for). */
  reserved: QuotaConsumer[];
  /** All reserved of the resource. */
  reservedTotal: number;
}

/** The one write path of the policies (SPEC 2): quota reservations against a tenant's usage. */
export interface QuotaLedger {
  reserve(reservation: Reservation, opts: { dryRun: boolean; signal: AbortSignal }): Promise<ReservationOutcome>;
  /** Observed plus reserved, as this process knows them (the early check; status and metrics). */
  used(tenant: string): ResourceAmounts;
  /**
   * The k largest consumers of `resource` in the tenant, read from an index (no scan of its
   * objects): for explaining a denial or a warning. Optional: a ledger without it explains the
   * charge only.
   */
  consumers?(tenant: string, resource: string, k: number): QuotaConsumers;
}
