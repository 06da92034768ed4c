// The terms of KubeVirt's launcher memory overhead that changed between releases, by the version
// the cluster runs (the KubeVirt CR's status.observedKubeVirtVersion, written by virt-operator).
// Read from the tags of kubevirt/kubevirt:
// - v1.0.0..v1.4.x (pkg/virt-controller/services/template.go constants, renderresources.go
//   GetMemoryOverhead): virt-launcher-monitor 25Mi + virt-launcher 100Mi + virtlogd 20Mi +
//   virtqemud 35Mi + qemu 30Mi = 210Mi fixed; video RAM 16Mi.
// - v1.5.x: virtlogd 25Mi, virtqemud 40Mi (220Mi fixed); video RAM still 16Mi.
// - v1.6.0..v1.9.x (renderresources.go, then pkg/hypervisor/kvm/hypervisorbackend.go from v1.8):
//   video RAM 32Mi.
// - after v1.9 (main, commit c822873795 "hypervisor: bump QemuOverhead from 30Mi to 50Mi", not in
//   the v1.9.0 tag): qemu 50Mi, 240Mi fixed. Taken as v1.10.0, the next release.
// Every other term (8Mi per vCPU, IOThread, VFIO, probes, SEV, TPM, dedicated CPUs) is the same in
// all of them. A version that cannot be read gets the largest overhead in the table (the newest): a
// wrong guess then overcharges by a few Mi, never undercharges. No version at all (no KubeVirt CR in
// the view, e.g. a snapshot without one) is taken as the latest release, v1.9.

const Mi = 1024 * 1024;

export interface OverheadTerms {
  /** The fixed RSS of virt-launcher-monitor, virt-launcher, virtlogd, virtqemud and qemu. */
  fixedProcess: number;
  /** Video RAM of the auto-attached graphics device. */
  videoRam: number;
  /** The releases whose formula this is, for the explanation of a charge. */
  releases: string;
}

interface Release {
  since: [number, number];
  terms: OverheadTerms;
}

/** Newest first. */
const RELEASES: readonly Release[] = [
  { since: [1, 10], terms: { fixedProcess: 240 * Mi, videoRam: 32 * Mi, releases: 'v1.10+' } },
  { since: [1, 6], terms: { fixedProcess: 220 * Mi, videoRam: 32 * Mi, releases: 'v1.6-v1.9' } },
  { since: [1, 5], terms: { fixedProcess: 220 * Mi, videoRam: 16 * Mi, releases: 'v1.5' } },
  { since: [0, 0], terms: { fixedProcess: 210 * Mi, videoRam: 16 * Mi, releases: 'v1.0-v1.4' } },
];

export const NEWEST_OVERHEAD_TERMS: OverheadTerms = RELEASES[0]!.terms;

/** v1.9's terms, the release tenantguard was measured against. */
export const V1_9_OVERHEAD_TERMS: OverheadTerms = RELEASES[1]!.terms;

/** "v1.9.0", "v1.9.0-rc.2", "1.10.1+abc" -> [1, 9] / [1, 10]; undefined when not a version. */
function majorMinor(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The overhead terms of a KubeVirt version (v1.9's without one; the newest when unreadable). */
export function overheadTermsFor(version: string | undefined): OverheadTerms {
  if (version === undefined || version === '') return V1_9_OVERHEAD_TERMS;
  const v = majorMinor(version);
  if (v === undefined) return NEWEST_OVERHEAD_TERMS;
  for (const r of RELEASES) {
    if (v[0] > r.since[0] || (v[0] === r.since[0] && v[1] >= r.since[1])) return r.terms;
  }
  return RELEASES[RELEASES.length - 1]!.terms;
}
