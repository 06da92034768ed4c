// The reviews the throughput benchmarks send (SPEC 12): a ~6 KB Pod CREATE with 2 containers, as the
// apiserver sends a Deployment's Pod after the mutating webhooks (restricted-compliant, defaults
// filled in, managedFields present), and a new name and uid for every request. The body is a
// template cut at the placeholders once, so making the next review is a string concatenation.

/** A namespace no Tenant claims, and the tenant namespace where every module has work (state/). */
export const PLAIN_NAMESPACE = 'plain';
export const TENANT_NAMESPACE = 'bench';

const NAME = '@@NAME@@';
const UID = '@@UID@@';

const container = (name: string, image: string, port: number, cpu: string, memory: string) => ({
  name,
  image,
  imagePullPolicy: 'IfNotPresent',
  args: ['--listen', `:${port}`, '--log-format', 'json', '--config', '/etc/app/config.yaml'],
  ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
  env: [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { containerName: name, divisor: '1', resource: 'limits.cpu' } } },
    { name: 'LOG_LEVEL', value: 'info' },
  ],
  resources: { requests: { cpu, memory }, limits: { cpu, memory } },
  readinessProbe: { httpGet: { path: '/readyz', port, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
  livenessProbe: { httpGet: { path: '/healthz', port, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
  volumeMounts: [
    { name: 'config', mountPath: '/etc/app', readOnly: true },
    { name: 'cache', mountPath: '/var/cache/app' },
    { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ],
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
});

function pod(namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: NAME,
      generateName: 'web-7d9c5b8f4-',
      namespace,
      uid: UID,
      labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': '7d9c5b8f4' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-30T12:00:00Z', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9c5b8f4', uid: 'a1b2c3d4-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-11-30T12:00:01Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {}, 'k:{"uid":"a1b2c3d4-0000-4000-8000-000000000001"}': {} } },
            'f:spec': {
              'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': {}, 'f:resources': {} }, 'k:{"name":"metrics"}': { '.': {}, 'f:image': {}, 'f:name': {} } },
              'f:dnsPolicy': {},
              'f:restartPolicy': {},
              'f:securityContext': {},
              'f:volumes': {},
            },
          },
        },
      ],
    },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' }, seLinuxOptions: { level: 's0:c123,c456' } },
      containers: [
        container('app', 'registry.example.com/shop/web:1.4.2', 8080, '250m', '256Mi'),
        container('metrics', 'registry.example.com/shop/exporter:0.9.1', 9100, '50m', '64Mi'),
      ],
      volumes: [
        { name: 'config', configMap: { name: 'web', defaultMode: 420 } },
        { name: 'cache', emptyDir: { sizeLimit: '256Mi' } },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
      serviceAccountName: 'web',
      serviceAccount: 'web',
      automountServiceAccountToken: true,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      enableServiceLinks: false,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } }],
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
    status: { phase: 'Pending', qosClass: 'Guaranteed' },
  };
}

function review(namespace: string, operation: 'CREATE' | 'DELETE'): string {
  const object = pod(namespace);
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: UID,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: NAME,
      namespace,
      operation,
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: 'c0ffee00-0000-4000-8000-000000000002',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object: operation === 'CREATE' ? object : null,
      oldObject: operation === 'DELETE' ? object : null,
      dryRun: false,
      options: operation === 'CREATE' ? { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' } : { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

/** Makes the n-th review: the template's pieces joined around that pod's name and uid. */
export type ReviewMaker = (n: number) => string;

function maker(template: string): ReviewMaker {
  // Split on either placeholder, remembering which one each gap is.
  const pieces = template.split(/(@@NAME@@|@@UID@@)/);
  return (n) => {
    const name = `web-7d9c5b8f4-${n.toString(36)}`;
    const uid = `705ab4f5-6393-41e8-b7cc-${n.toString(16).padStart(12, '0')}`;
    let out = '';
    for (const piece of pieces) out += piece === NAME ? name : piece === UID ? uid : piece;
    return out;
  };
}

/** A new Pod CREATE review per n in `namespace`, and the DELETE review of the same pod. */
export function podReviews(namespace: string): { create: ReviewMaker; remove: ReviewMaker } {
  return { create: maker(review(namespace, 'CREATE')), remove: maker(review(namespace, 'DELETE')) };
}
