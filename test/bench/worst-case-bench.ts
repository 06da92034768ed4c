// The largest reviews a tenant can send or cause, per review through the whole engine (every
// module, a Tenant that enables all of them), with the size next to the time: a label-only UPDATE
// of a pod with 20,000 ephemeral containers, pods with 10,000 containers or 10,000 labels, and
// the DELETE of a NetworkPolicy among 2,000 in a namespace with 300 pods. A smoke, not an
// assertion; the tests hold the budgets.
//   node --import=tsx test/bench/worst-case-bench.ts [iterations]
import { pathToFileURL } from 'node:url';
import type { PolicyEngine } from '../../policies/engine.js';
import type { AdmissionRequest, KubeObject } from '../../policies/types.js';
import { SnapshotView } from '../../server/cluster/snapshot-view.js';
import { crowdedNamespace } from '../fixtures/network-policy/crowded-namespace.js';
import { largePod, NAMESPACE, networkPolicyDelete, podReview, relabelled, SELECT_ALL, wholeEngine } from '../fixtures/whole-engine.js';
import { measureAsync, printTable, type BenchRow } from './measure.js';

/** A pod needing every default in each container: the mutators' worst case. */
function insecurePodWith(containers: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'big', namespace: NAMESPACE, labels: { app: 'big' } },
    spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'registry.example/app:1.0' })) },
  };
}

export async function runWorstCaseBench(iterations = 30): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const run = async (name: string, engine: PolicyEngine, request: AdmissionRequest) => {
    const decision = await engine.review(request, 'both');
    if (!decision.allowed) throw new Error(`${name}: not admitted: ${decision.status?.message}`);
    rows.push(await measureAsync(name, iterations, () => engine.review(request, 'both')));
  };

  const podView = new SnapshotView({});
  podView.add(SELECT_ALL);
  const engine = wholeEngine(podView);
  const ephemeral = largePod(1, 20_000, 1);
  await run('UPDATE labels only, 20,000 ephemeral containers', engine, podReview('UPDATE', relabelled(ephemeral), ephemeral));
  await run('CREATE, 10,000 containers (compliant)', engine, podReview('CREATE', largePod(10_000, 0, 1)));
  await run('CREATE, 10,000 containers (every default to fill)', engine, podReview('CREATE', insecurePodWith(10_000)));
  await run('CREATE, 10,000 labels', engine, podReview('CREATE', largePod(1, 0, 10_000)));

  for (const adversarial of [false, true]) {
    const npView = new SnapshotView({});
    const crowded = crowdedNamespace(NAMESPACE, 2_000, 300, adversarial);
    for (const o of [...crowded.policies, ...crowded.pods]) npView.add(o);
    const name = `DELETE NetworkPolicy, 2,000 policies x 300 pods${adversarial ? ', adversarial selectors' : ''}`;
    await run(name, wholeEngine(npView), networkPolicyDelete(crowded.selectAll));
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await runWorstCaseBench(Number(process.argv[2] ?? 30)));
}
