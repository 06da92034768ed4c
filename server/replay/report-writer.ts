// Writes audit reports into the cluster (`tenantguard audit --apply`, run by the audit CronJob of
// manifests/components/audit): each namespace's report is created, or replaced when it exists, so
// the cluster always holds the last audit's results, empty reports included (stale results clear).
import { KubeApiError, type KubeClient } from '../cluster/kube-client.js';
import type { OpenReport, PolicyReport } from './policy-report.js';

/** Where each report kind lives: the Policy WG's PolicyReport and its successor, openreports.io's Report. */
const PLURALS: Record<string, string> = { PolicyReport: 'policyreports', Report: 'reports' };

export async function writeReports(client: KubeClient, reports: ReadonlyArray<PolicyReport | OpenReport>): Promise<void> {
  for (const report of reports) {
    const collection = `/apis/${report.apiVersion}/namespaces/${report.metadata.namespace}/${PLURALS[report.kind]}`;
    const path = `${collection}/${report.metadata.name}`;
    let existing: { metadata?: { resourceVersion?: string } } | undefined;
    try {
      existing = await client.request('GET', path, { operation: `get ${report.kind}` });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    if (existing === undefined) {
      await client.request('POST', collection, { body: report, operation: `create ${report.kind}` });
    } else {
      // The resourceVersion read: a concurrent writer (another audit) makes this a 409, not a lost update.
      const body = { ...report, metadata: { ...report.metadata, resourceVersion: existing.metadata?.resourceVersion } };
      await client.request('PUT', path, { body, operation: `update ${report.kind}` });
    }
  }
}
