// Reloads the serving certificate when its files change (SPEC 9), through a DirectoryWatch (a
// Secret volume swaps a `..data` symlink; `tenantguard certs` renames new files into place). Key and certificate change in two steps, so a pair is only handed on once both parse and
// the key belongs to the certificate; until then the current certificate stays in use.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DirectoryWatch } from './directory-watch.js';

export interface CertPair {
  key: string;
  cert: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex, as certs/authority.ts reports it. */
  serial: string;
}

/** Reads and checks a certificate/key pair; the error says which file is wrong and how. */
export async function readCertPair(certFile: string, keyFile: string): Promise<CertPair> {
  let cert: string;
  let key: string;
  try {
    cert = await readFile(certFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read certificate ${certFile}: ${(err as Error).message}`);
  }
  try {
    key = await readFile(keyFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read private key ${keyFile}: ${(err as Error).message}`);
  }
  return checkCertPair(cert, key, certFile, keyFile);
}

export function checkCertPair(cert: string, key: string, certFile = 'certificate', keyFile = 'private key'): CertPair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`${keyFile} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`${keyFile} is not the private key of ${certFile}`);
  return { key, cert, notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo), serial: x509.serialNumber.toLowerCase() };
}

export interface CertWatchOptions {
  certFile: string;
  keyFile: string;
  /** The pair in use when the watch starts. */
  initial: CertPair;
  onChange(pair: CertPair): void;
  /** A changed pair that cannot be used (yet); the current one stays. */
  onError(message: string): void;
  debounceMs?: number;
}

export class CertWatcher {
  private current: CertPair;
  private watch: DirectoryWatch | undefined;

  constructor(private readonly opts: CertWatchOptions) {
    this.current = opts.initial;
  }

  start(): void {
    this.watch = new DirectoryWatch({
      directories: [dirname(this.opts.certFile), dirname(this.opts.keyFile)],
      recheck: () => this.check(),
      onWatchError: (dir, err) => this.opts.onError(`watching ${dir} failed: ${err.message}`),
      ...(this.opts.debounceMs !== undefined ? { debounceMs: this.opts.debounceMs } : {}),
    });
  }

  pair(): CertPair {
    return this.current;
  }

  close(): void {
    this.watch?.close();
  }

  private get closed(): boolean {
    return this.watch?.isClosed ?? false;
  }

  private async check(): Promise<void> {
    let pair: CertPair;
    try {
      pair = await readCertPair(this.opts.certFile, this.opts.keyFile);
    } catch (err) {
      if (!this.closed) this.opts.onError(`${(err as Error).message}; keeping the current certificate`);
      return;
    }
    if (this.closed || (pair.cert === this.current.cert && pair.key === this.current.key)) return;
    this.current = pair;
    this.opts.onChange(pair);
  }
}

export function watchCertFiles(opts: CertWatchOptions): CertWatcher {
  const watcher = new CertWatcher(opts);
  watcher.start();
  return watcher;
}
