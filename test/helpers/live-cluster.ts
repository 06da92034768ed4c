// Test wiring for the live cluster view: a fake apiserver, a kubeconfig pointing at it, and
// LiveViews connected through @kubernetes/client-node, torn down after the test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tracer } from '@opentelemetry/api';
import type { KubeObject } from '../../policies/types.js';
import { KubeClient, loadKubeConfig } from '../../platform/kube-client.js';
import { LiveView, type LiveViewOptions } from '../../server/cluster/live-view.js';
import { DEFAULT_CONFIG } from '../../server/config.js';
import { FakeApiServer, type FakeApiServerOptions } from './fake-apiserver.js';

export interface LiveCluster {
  api: FakeApiServer;
  kubeconfig: string;
  client(tracer?: Tracer): KubeClient;
  /** A started LiveView (not necessarily synced) with fast retry settings. */
  view(opts?: Partial<LiveViewOptions> & { tracer?: Tracer }): Promise<LiveView>;
  close(): Promise<void>;
}

export async function liveCluster(opts: FakeApiServerOptions = {}): Promise<LiveCluster> {
  const api = await FakeApiServer.start(opts);
  const dir = await mkdtemp(join(tmpdir(), 'tenantguard-live-'));
  const kubeconfig = await api.writeKubeconfig(dir);
  const views: LiveView[] = [];
  const client = (tracer?: Tracer) => new KubeClient(loadKubeConfig(kubeconfig), tracer);
  return {
    api,
    kubeconfig,
    client,
    async view(o = {}) {
      const { tracer, ...rest } = o;
      const view = new LiveView(client(tracer), {
        defaultTenant: DEFAULT_CONFIG.defaultTenant,
        baseBackoffMs: 20,
        maxBackoffMs: 100,
        ...rest,
      });
      views.push(view);
      await view.start();
      return view;
    },
    async close() {
      await Promise.all(views.map((v) => v.stop()));
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `cond` holds; fails with `what` after the timeout. */
export async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function pod(ns: string, name: string, requests: Record<string, string> = { cpu: '100m', memory: '64Mi' }, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests, limits: requests } }] },
    status: { phase: 'Running' },
  };
}

export function tenant(name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject {
  const obj: KubeObject = { apiVersion: 'tenantguard.io/v1alpha1', kind: 'Tenant', metadata: { name }, spec };
  if (status) obj.status = status;
  return obj;
}

export function networkPolicy(ns: string, name: string, podSelector: Record<string, unknown>, policyTypes: string[] = ['Ingress']): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: ns, name },
    spec: { podSelector, policyTypes },
  };
}
