// Audit findings as wgpolicyk8s.io/v1alpha2 PolicyReports (the Policy WG's report API that
// Kyverno, policy-reporter and others read) or as openreports.io/v1alpha1 Reports (its successor,
// which Kyverno and Kubewarden moved to): one report per namespace, one result per finding. Field
// names follow kubernetes-sigs/wg-policy-prototypes policy-report/apis/wgpolicyk8s.io/v1alpha2 and
// openreports/reports-api apis/openreports.io/v1alpha1/report_types.go; both define the same
// result (ReportResult: source, policy, rule, result, scored, resources, message, properties,
// timestamp) and summary, and a Report adds `source` at the top.
import type { Mode } from '../../policies/types.js';

export interface Violation {
  /** undefined: the namespace falls to the server config's defaultTenant. */
  tenant: string | undefined;
  namespace: string;
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  policy: string;
  /** The finding's mode, or `error` when the policy itself failed on the object. */
  mode: Mode | 'error';
  rule: string;
  message: string;
}

/** corev1.ObjectReference, the fields a report result uses. */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type PolicyResult = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

export interface PolicyReportResult {
  source: string;
  policy: string;
  rule: string;
  result: PolicyResult;
  scored: boolean;
  message: string;
  resources: ObjectReference[];
  properties: Record<string, string>;
  /** metav1.Timestamp */
  timestamp: { seconds: number; nanos: number };
}

interface ReportBody {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  summary: Record<PolicyResult, number>;
  results: PolicyReportResult[];
}

export interface PolicyReport extends ReportBody {
  apiVersion: 'wgpolicyk8s.io/v1alpha2';
  kind: 'PolicyReport';
}

/** openreports.io/v1alpha1 Report; `scope` is left out: each report covers a whole namespace. */
export interface OpenReport extends ReportBody {
  apiVersion: 'openreports.io/v1alpha1';
  kind: 'Report';
  source: string;
}

export const REPORT_NAME = 'tenantguard-audit';
const SOURCE = 'tenantguard';

/**
 * enforce -> fail (scored); warn and audit -> warn, which the API defines as "requirements not met,
 * not scored": tenantguard admits those objects. A policy that could not evaluate -> error.
 */
function resultOf(mode: Violation['mode']): PolicyResult {
  if (mode === 'enforce') return 'fail';
  return mode === 'error' ? 'error' : 'warn';
}

/** One report per namespace in `namespaces` (sorted), empty ones included so stale results clear. */
export function policyReports(violations: Violation[], namespaces: Iterable<string>, now: Date): PolicyReport[] {
  return reportsPerNamespace(violations, namespaces, now, (body) => ({ apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', ...body }));
}

/** The same reports as openreports.io/v1alpha1 Reports. */
export function openReports(violations: Violation[], namespaces: Iterable<string>, now: Date): OpenReport[] {
  return reportsPerNamespace(violations, namespaces, now, (body) => ({ apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata: body.metadata, source: SOURCE, summary: body.summary, results: body.results }));
}

function reportsPerNamespace<R extends ReportBody>(violations: Violation[], namespaces: Iterable<string>, now: Date, wrap: (body: ReportBody) => R): R[] {
  const seconds = Math.floor(now.getTime() / 1000);
  const byNamespace = new Map<string, R>();
  for (const ns of [...new Set(namespaces)].sort()) {
    byNamespace.set(ns, wrap({
      metadata: { name: REPORT_NAME, namespace: ns, labels: { 'app.kubernetes.io/managed-by': SOURCE } },
      summary: { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 },
      results: [],
    }));
  }
  for (const v of violations) {
    const report = byNamespace.get(v.namespace);
    if (!report) throw new Error(`violation in namespace ${v.namespace}, which is not among the audited namespaces`);
    const result = resultOf(v.mode);
    const resource: ObjectReference = { apiVersion: v.apiVersion, kind: v.kind, namespace: v.namespace, name: v.name };
    if (v.uid) resource.uid = v.uid;
    const properties: Record<string, string> = { mode: v.mode };
    if (v.tenant !== undefined) properties.tenant = v.tenant;
    report.results.push({
      source: SOURCE,
      policy: v.policy,
      rule: v.rule,
      result,
      scored: result === 'fail',
      message: v.message,
      resources: [resource],
      properties,
      timestamp: { seconds, nanos: 0 },
    });
    report.summary[result] += 1;
  }
  return [...byNamespace.values()];
}
