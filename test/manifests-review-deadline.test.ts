// The review deadline sits below the webhook timeout in every install (issue 21): the apiserver
// stops waiting after a webhook's timeoutSeconds, so tenantguard must answer (its modules' failure
// modes included) before that, with room for the network and TLS. Read from what `kubectl
// kustomize` renders: each overlay's webhook configurations and the config its ConfigMap carries.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildConfig, parseConfigText } from '../server/config-load.js';
import { findNamed, kustomizeBuild, MANIFESTS_DIR } from './helpers/manifests.js';

/** Network, TLS and encoding between the apiserver's clock and the engine's. */
const MARGIN_MS = 500;

const installs = ['base', ...readdirSync(join(MANIFESTS_DIR, 'overlays')).map((o) => `overlays/${o}`)];

for (const install of installs) {
  t.test(`${install}: each webhook's timeoutSeconds leaves ${MARGIN_MS} ms past the review deadline`, async (t) => {
    const docs = await kustomizeBuild(install);
    const text = (findNamed(docs, 'ConfigMap', 'tenantguard-config').data as Record<string, string>)['config.yaml']!;
    const parsed = parseConfigText(text, 'config.yaml');
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const built = buildConfig(parsed.value, {});
    if (!built.ok) throw new Error(built.errors.join('; '));
    const deadlines = built.config.reviewDeadlineMs;
    const webhooks = [
      ...docs.filter((d) => d.kind === 'MutatingWebhookConfiguration').flatMap((d) => (d.webhooks as any[]).map((w) => ({ phase: 'mutate' as const, w }))),
      ...docs.filter((d) => d.kind === 'ValidatingWebhookConfiguration').flatMap((d) => (d.webhooks as any[]).map((w) => ({ phase: 'validate' as const, w }))),
    ];
    t.ok(webhooks.some((h) => h.phase === 'mutate') && webhooks.some((h) => h.phase === 'validate'), 'both webhook kinds are rendered');
    for (const { phase, w } of webhooks) {
      // admissionregistration/v1 defaults timeoutSeconds to 10; every tenantguard webhook sets it.
      t.type(w.timeoutSeconds, 'number', `${w.name}: timeoutSeconds is set`);
      t.ok(deadlines[phase] + MARGIN_MS <= w.timeoutSeconds * 1000, `${w.name} (${phase}): deadline ${deadlines[phase]} ms + ${MARGIN_MS} ms <= ${w.timeoutSeconds} s`);
    }
  });
}
