// The only body parser: application/json through parseJsonBody (SPEC 3), so any other content type
// is Fastify's 415 error, which error-replies.ts answers as a 400 naming the type.
import { parseJsonBody } from '../admission-codec.js';
import type { AdmissionApp } from './app-deps.js';

export function registerJsonBodyParser(app: AdmissionApp): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
