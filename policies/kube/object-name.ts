// The name an object gets from the review that creates it. The apiserver generates a
// generateName-only object's name before validating admission (k8s.io/apiserver
// pkg/registry/rest/create.go BeforeCreate) and hands the validating webhooks that name
// (pkg/registry/rest/create.go AdmissionToValidateObjectFunc); mutating webhooks see only
// generateName. A replayed review may carry only generateName: snapshot mode names the object it
// stores by this same rule, so a quota reservation waits for the name the state will hold.
import type { AdmissionRequest, KubeObject } from '../types.js';

/** request.name, else the object's name, else generateName plus a suffix from the review uid; '' when none. */
export function admittedName(request: Pick<AdmissionRequest, 'name' | 'uid'>, object: KubeObject | undefined): string {
  const meta = object?.metadata;
  if (request.name) return request.name;
  if (meta?.name) return meta.name;
  return meta?.generateName ? `${meta.generateName}${request.uid.slice(0, 5)}` : '';
}
