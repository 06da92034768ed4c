// secure-defaults (mutate, SPEC 6.2): fills in the security settings a tenant's `defaults` ask for,
// only where the Pod (or pod template) leaves them unset, so a Pod that asks for nothing
// restricted forbids then passes restricted. It never overrides a value, and a second pass finds
// nothing left to fill (the API server may reinvoke mutating webhooks). A pod template is filled
// on CREATE, and on UPDATE only when the template itself changed: an edit to anything else (the
// owner's labels, replicas, status) must not alter the template, or every pod would be replaced.
// A Pod is filled on CREATE only: the API server refuses updates to a pod's security settings.
import { isDeepStrictEqual } from 'node:util';
import type { V1Container, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';
import { SECCOMP_POD_ANNOTATION } from './pod-security/controls/baseline.js';
import { NONE } from './pod-security/controls/context.js';
import { isPodKind, type PodTarget, podTargetOf } from './pod-security/pod-spec.js';
import type { ModuleResult, PatchOp, PolicyInput, PolicyModule, TenantSpec } from './types.js';
import { virtLauncherAnnotation, virtLauncherVmiOf } from './kube/virt-launcher.js';

type Defaults = NonNullable<TenantSpec['defaults']>;

const NOTHING: ModuleResult = Object.freeze({});

/**
 * The pod seccomp profile to fill in. Where the legacy pod annotation is set, API validation
 * requires the field to agree with it, so the field takes the annotation's value (as the API
 * server's own annotation-to-field sync would); an annotation asking for anything else
 * (unconfined) is the user's explicit choice and leaves the field unset.
 */
function seccompProfileFor(annotation: string | undefined): { type: string; localhostProfile?: string } | undefined {
  if (annotation === undefined || annotation === 'runtime/default' || annotation === 'docker/default') return { type: 'RuntimeDefault' };
  if (annotation.startsWith('localhost/')) return { type: 'Localhost', localhostProfile: annotation.slice('localhost/'.length) };
  return undefined;
}

/** A list left unset, or empty, which the API treats alike. */
function unsetList(list: readonly unknown[] | null | undefined): boolean {
  return list == null || list.length === 0;
}

function explicitlyRoot(spec: V1PodSpec): boolean {
  if (spec.securityContext?.runAsUser === 0) return true;
  for (const list of [spec.initContainers, spec.containers, spec.ephemeralContainers]) {
    for (const c of list ?? NONE) if (c.securityContext?.runAsUser === 0) return true;
  }
  return false;
}

function podDefaults(target: PodTarget, defaults: Defaults, windows: boolean, patch: PatchOp[]): void {
  const { spec, meta, specPointer } = target;
  const sc = spec.securityContext;
  const fill: Record<string, unknown> = {};
  let filled = false;
  // Windows pods reject seccomp and SELinux options (API validation); runAsNonRoot is valid there
  // and is the one restricted control Windows pods must still satisfy.
  if (!windows && defaults.seccomp === true && sc?.seccompProfile == null) {
    const profile = seccompProfileFor(meta.annotations?.[SECCOMP_POD_ANNOTATION]);
    if (profile !== undefined) {
      fill.seccompProfile = profile;
      filled = true;
    }
  }
  // A pod that explicitly runs as uid 0 would never start with runAsNonRoot (the kubelet refuses).
  if (defaults.runAsNonRoot === true && sc?.runAsNonRoot == null && !explicitlyRoot(spec)) {
    fill.runAsNonRoot = true;
    filled = true;
  }
  const level = defaults.seLinuxLevel;
  const fillLevel = !windows && typeof level === 'string' && level !== '' && !sc?.seLinuxOptions?.level;
  if (sc == null) {
    if (fillLevel) fill.seLinuxOptions = { level };
    if (filled || fillLevel) patch.push({ op: 'add', path: `${specPointer}/securityContext`, value: fill });
    return;
  }
  for (const key in fill) patch.push({ op: 'add', path: `${specPointer}/securityContext/${key}`, value: fill[key] });
  if (fillLevel) {
    patch.push(
      sc.seLinuxOptions == null
        ? { op: 'add', path: `${specPointer}/securityContext/seLinuxOptions`, value: { level } }
        : { op: 'add', path: `${specPointer}/securityContext/seLinuxOptions/level`, value: level },
    );
  }
}

// API validation rejects allowPrivilegeEscalation=false together with privileged=true or with
// capabilities.add CAP_SYS_ADMIN: such a container keeps escalation as it is.
function mayForbidEscalation(sc: V1SecurityContext | undefined): boolean {
  if (sc?.privileged === true) return false;
  const added: readonly string[] = sc?.capabilities?.add ?? NONE;
  return !added.includes('CAP_SYS_ADMIN');
}

function containerDefaults(containers: readonly V1Container[], pointer: string, defaults: Defaults, patch: PatchOp[]): void {
  for (let i = 0; i < containers.length; i++) {
    const sc = containers[i]!.securityContext;
    const noEscalation = defaults.allowPrivilegeEscalation === false && sc?.allowPrivilegeEscalation == null && mayForbidEscalation(sc);
    const dropAll = defaults.dropAllCapabilities === true && unsetList(sc?.capabilities?.drop);
    if (!noEscalation && !dropAll) continue;
    const base = `${pointer}/${i}/securityContext`;
    if (sc == null) {
      const value: V1SecurityContext = {};
      if (noEscalation) value.allowPrivilegeEscalation = false;
      if (dropAll) value.capabilities = { drop: ['ALL'] };
      patch.push({ op: 'add', path: base, value });
      continue;
    }
    if (noEscalation) patch.push({ op: 'add', path: `${base}/allowPrivilegeEscalation`, value: false });
    if (dropAll) {
      patch.push(
        sc.capabilities == null
          ? { op: 'add', path: `${base}/capabilities`, value: { drop: ['ALL'] } }
          : { op: 'add', path: `${base}/capabilities/drop`, value: ['ALL'] },
      );
    }
  }
}

/**
 * RFC 6902 operations, relative to the object holding `target`, that fill the tenant's defaults
 * where unset. Values are fresh objects: the engine applies them by reference.
 */
export function secureDefaultsPatch(target: PodTarget, defaults: Defaults): PatchOp[] {
  const patch: PatchOp[] = [];
  const windows = target.spec.os?.name === 'windows';
  podDefaults(target, defaults, windows, patch);
  // Linux-only container fields (capabilities, allowPrivilegeEscalation) are invalid on Windows pods.
  // Ephemeral containers arrive through their own subresource, whose updates may not change them.
  if (!windows) {
    containerDefaults(target.spec.initContainers ?? NONE, `${target.specPointer}/initContainers`, defaults, patch);
    containerDefaults(target.spec.containers ?? NONE, `${target.specPointer}/containers`, defaults, patch);
  }
  return patch;
}

/** Whether an UPDATE changed the pod template (metadata or spec) the defaults would fill. */
function templateChanged(target: PodTarget, oldTarget: PodTarget | undefined): boolean {
  return oldTarget === undefined || !isDeepStrictEqual(target.spec, oldTarget.spec) || !isDeepStrictEqual(target.meta, oldTarget.meta);
}

function evaluate({ request, object, oldObject, tenant, view, settings }: PolicyInput): ModuleResult {
  const defaults = tenant.spec.defaults;
  if (defaults == null || object == null || request.subResource) return NOTHING;
  const isPod = isPodKind(request.kind);
  // A Pod's security settings are immutable after creation; templates may change on update.
  if (request.operation !== 'CREATE' && (isPod || request.operation !== 'UPDATE')) return NOTHING;
  const target = podTargetOf(request.kind, object);
  if (target === undefined) return NOTHING;
  if (request.operation === 'UPDATE' && oldObject != null && !templateChanged(target, podTargetOf(request.kind, oldObject))) return NOTHING;
  if (isPod) {
    const vmi = virtLauncherVmiOf(request, object, view, settings);
    if (vmi !== undefined) return { annotation: virtLauncherAnnotation(vmi) };
  }
  const patch = secureDefaultsPatch(target, defaults);
  return patch.length > 0 ? { patch } : NOTHING;
}

export const secureDefaultsModule: PolicyModule = { name: 'secure-defaults', type: 'mutate', evaluate };
