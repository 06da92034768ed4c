// replay --server: the reviews go to a running webhook over HTTPS, mutate then validate, as the
// kube-apiserver calls the two webhooks; each answer is folded into one outcome per fixture.
import fjp from 'fast-json-patch';
import { Agent, request as httpRequest } from 'undici';
import type { Phase } from '../../policies/engine.js';
import type { AdmissionRequest, AdmissionResponse, KubeObject, PatchOp } from '../../policies/types.js';
import type { ReviewOutcome } from './expectations.js';
import { InputError } from './inputs.js';

/** A review the webhook answered with something other than an AdmissionReview (fails that fixture). */
export class ReviewHttpError extends Error {}

/** Sends reviews to a running webhook over HTTPS, one keep-alive connection pool for the run. */
export class WebhookClient {
  private readonly agent: Agent;

  constructor(
    private readonly base: URL,
    tls: { ca: string; cert?: string; key?: string },
  ) {
    this.agent = new Agent({ connect: { ...tls, rejectUnauthorized: true } });
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async post(webhook: 'mutate' | 'validate', request: AdmissionRequest): Promise<AdmissionResponse> {
    const url = new URL(webhook, this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    let res;
    try {
      res = await httpRequest(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }),
      });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new InputError(`cannot reach the webhook at ${url.href}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new ReviewHttpError(`POST /${webhook}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    let body: { response?: AdmissionResponse };
    try {
      body = JSON.parse(text) as { response?: AdmissionResponse };
    } catch {
      throw new ReviewHttpError(`POST /${webhook}: the response is not JSON: ${text.slice(0, 120)}`);
    }
    const response = body.response;
    if (!response || typeof response.allowed !== 'boolean') throw new ReviewHttpError(`POST /${webhook}: the response has no response.allowed`);
    if (response.uid !== request.uid) throw new ReviewHttpError(`POST /${webhook}: response.uid ${response.uid} does not echo request.uid ${request.uid}`);
    return response;
  }

  /** Mutate then validate the mutated object, as the kube-apiserver calls the two webhooks. */
  async review(request: AdmissionRequest, phase: Phase): Promise<ReviewOutcome> {
    const original = request.object ?? undefined;
    const out: ReviewOutcome = { allowed: true, warnings: [], auditAnnotations: {} };
    if (original) out.patchedObject = original;
    const fold = (r: AdmissionResponse): void => {
      out.allowed = r.allowed;
      if (r.status) {
        out.code = r.status.code;
        out.message = r.status.message;
      }
      out.warnings.push(...(r.warnings ?? []));
      Object.assign(out.auditAnnotations, r.auditAnnotations ?? {});
    };
    if (phase !== 'validate') {
      const mutated = await this.post('mutate', request);
      fold(mutated);
      if (mutated.patch !== undefined) {
        if (mutated.patchType !== 'JSONPatch') throw new ReviewHttpError(`POST /mutate: patchType must be JSONPatch, got ${String(mutated.patchType)}`);
        let ops: PatchOp[];
        try {
          ops = JSON.parse(Buffer.from(mutated.patch, 'base64').toString('utf8')) as PatchOp[];
          out.patchedObject = fjp.applyPatch(structuredClone(original ?? {}), ops as fjp.Operation[], true, false).newDocument as KubeObject;
        } catch (err) {
          throw new ReviewHttpError(`POST /mutate: the patch does not apply to the object: ${(err as Error).message}`);
        }
        out.patch = ops;
      }
      if (!mutated.allowed || phase === 'mutate') return out;
    }
    fold(await this.post('validate', { ...request, object: out.patchedObject ?? request.object ?? null }));
    return out;
  }
}
