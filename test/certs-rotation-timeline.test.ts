// The default install's certificates over five years (issue 21, SPEC 11.1), against the fake
// apiserver on a clock: the webhook configurations exactly as manifests/base ships them (no
// caBundle), two replicas, the default schedule. At every step, what each replica serves must
// verify against every webhook's current caBundle (a new CA is trusted before it signs anything)
// and against the caBundle a lagging client (the apiserver's informer, 12 h behind, half the
// overlap) still holds; it is never within a third of its life of expiring.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { splitPemBundle } from '../certs/authority.js';
import type { KubeObject } from '../policies/types.js';
import { kustomizeBuild } from './helpers/manifests.js';
import { cluster, DAY } from './helpers/self-managed-cluster.js';

const HOUR = DAY / 24;
/** How far behind the caBundle a client holds may be; the default caOverlap is 24 h. */
const CLIENT_LAG = 12 * HOUR;

interface Step {
  at: number;
  bundles: X509Certificate[][];
}

const verifies = (cert: X509Certificate, trusted: readonly X509Certificate[], at: number): boolean =>
  trusted.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey) && Date.parse(ca.validTo) > at) &&
  Date.parse(cert.validFrom) <= at && at < Date.parse(cert.validTo);

t.test('five years of the default install: renewals and a CA rotation, and no client holding an older caBundle ever fails', async (t) => {
  const shipped = (await kustomizeBuild('base')).filter((d: KubeObject) => d.kind?.endsWith('WebhookConfiguration'));
  t.ok(shipped.every((d) => (d.webhooks as Array<{ clientConfig: { caBundle?: string } }>).every((h) => h.clientConfig.caBundle === undefined)), 'shipped without a caBundle');
  const c = await cluster(t, {}, shipped);
  const a = c.replica('tenantguard-a');
  const b = c.replica('tenantguard-b');
  c.at(0);
  await a.certs.initialPair();
  await b.certs.initialPair();
  const start = Date.parse(new X509Certificate(a.certs.current()!.cert).validFrom);

  // Every 16 days, and every 3 h around the CA rotation (a third of 1825 days before the CA expires).
  const days: number[] = [];
  for (let d = 0; d <= 1904; d += d >= 1216 && d < 1221 ? 0.125 : 16) days.push(d);
  const history: Step[] = [];
  const leaves = new Map<string, number>();
  const cas = new Map<string, { subject: string; firstTrusted: number; firstSigned?: number; lastTrusted: number }>();
  let failures = 0;
  let leastLeft = Infinity;
  for (const day of days) {
    c.at(day);
    await a.certs.tick();
    await b.certs.tick();
    const at = start + day * DAY;
    const bundles = c.caBundles().map(() => []) as X509Certificate[][];
    const raw = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].flatMap((kind) =>
      ((c.api.get('admissionregistration.k8s.io/v1', kind, undefined, 'tenantguard') as KubeObject).webhooks as Array<{ clientConfig: { caBundle?: string } }>).map((w) => w.clientConfig.caBundle ?? ''));
    raw.forEach((b64, i) => (bundles[i] = splitPemBundle(Buffer.from(b64, 'base64').toString('utf8')).map((p) => new X509Certificate(p))));
    history.push({ at, bundles });
    for (const ca of bundles[0]!) {
      const seen = cas.get(ca.fingerprint256);
      if (seen) seen.lastTrusted = day;
      else cas.set(ca.fingerprint256, { subject: ca.subject, firstTrusted: day, lastTrusted: day });
    }
    const lagging = [...history].reverse().find((s) => s.at <= at - CLIENT_LAG) ?? history[0]!;
    for (const [name, r] of [['a', a], ['b', b]] as const) {
      const served = new X509Certificate(r.certs.current()!.cert);
      if (!leaves.has(served.fingerprint256)) leaves.set(served.fingerprint256, day);
      leastLeft = Math.min(leastLeft, (Date.parse(served.validTo) - at) / DAY);
      for (const [who, held] of [['current', bundles], ['12 h old', lagging.bundles]] as const) {
        held.forEach((bundle, i) => {
          if (!verifies(served, bundle, at)) {
            failures++;
            if (failures <= 5) t.fail(`day ${day}: replica ${name}'s certificate does not verify against webhook ${i}'s ${who} caBundle`);
          }
        });
      }
      const signer = bundles[0]!.find((ca) => served.checkIssued(ca) && served.verify(ca.publicKey));
      if (signer) cas.get(signer.fingerprint256)!.firstSigned ??= day;
    }
  }
  t.equal(failures, 0, `no failed verification in ${days.length} steps, by either replica, against the current or a 12 h old caBundle`);
  t.ok(leastLeft > 100, `a served certificate never had less than 100 days left, 16-day steps included (least: ${leastLeft.toFixed(1)})`);

  const renewals = [...leaves.values()].slice(1);
  t.equal(renewals[0], 256, 'the first renewal at a third of 365 days before expiry (day 243.3, seen at the next step)');
  const [first, second, third] = [...cas.values()];
  t.equal(third, undefined, 'one CA rotation in five years');
  t.not(first!.subject, second!.subject, 'old and new CA have distinct subjects');
  t.ok(second!.firstTrusted >= 1216.5 && second!.firstTrusted <= 1216.75, `the new CA is trusted from day ${second!.firstTrusted} (a third of 1825 days before the old one expires)`);
  t.ok(second!.firstSigned! - second!.firstTrusted >= 1, `it signs the served certificate only after the 24 h overlap (day ${second!.firstSigned})`);
  t.ok(first!.lastTrusted - second!.firstSigned! >= 1 - 0.125, `the old CA stays trusted for the overlap after the switch (until day ${first!.lastTrusted})`);
  t.ok(first!.lastTrusted < 1825 - 500, 'and is pruned long before it expires');
});
