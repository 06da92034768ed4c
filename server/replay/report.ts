// Replay output: a readable table with one row per review and a summary line, or JSON for tools.
import type { Expectation, ReviewOutcome } from './expectations.js';

export interface ReplayResult {
  /** Fixture path (relative to the expectations file, or to the working directory) plus "#index". */
  fixture: string;
  kind: string;
  operation: string;
  namespace?: string;
  name?: string;
  uid?: string;
  expectation?: Expectation;
  /** Absent when the review could not be made (an HTTP error) or no fixture matched an expectation. */
  outcome?: ReviewOutcome;
  passed: boolean;
  /** Every difference from the expectation (or why the review failed), most decisive first. */
  mismatches: string[];
}

export interface ReplaySummary {
  passed: number;
  failed: number;
  total: number;
}

const DETAIL_WIDTH = 120;

export function summarize(results: ReplayResult[]): ReplaySummary {
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, total: results.length };
}

export function summaryLine(s: ReplaySummary): string {
  return `${s.passed} passed, ${s.failed} failed`;
}

function expectedText(exp: Expectation | undefined): string {
  if (!exp) return '(none)';
  if (exp.allowed === undefined) return 'any';
  return exp.allowed ? 'allow' : 'deny';
}

function actualText(out: ReviewOutcome | undefined): string {
  if (!out) return '-';
  const extras: string[] = [];
  if (out.patch && out.patch.length > 0) extras.push('patched');
  if (out.warnings.length > 0) extras.push(`${out.warnings.length} warning${out.warnings.length === 1 ? '' : 's'}`);
  return `${out.allowed ? 'allow' : 'deny'}${extras.length > 0 ? ` (${extras.join(', ')})` : ''}`;
}

function detailText(r: ReplayResult): string {
  let text: string;
  if (!r.passed) text = r.mismatches[0] ?? '';
  else if (!r.expectation) text = `no expectation${r.outcome?.allowed === false ? `: ${r.outcome.message ?? ''}` : ''}`;
  else text = '';
  text = text.replace(/\s+/g, ' ');
  return text.length <= DETAIL_WIDTH ? text : `${text.slice(0, DETAIL_WIDTH - 1)}…`;
}

export function formatTable(results: ReplayResult[]): string {
  const header = ['FIXTURE', 'KIND', 'OPERATION', 'EXPECTED', 'ACTUAL', 'RESULT', 'DETAIL'];
  const rows = results.map((r) => [
    r.fixture,
    r.kind,
    r.operation,
    expectedText(r.expectation),
    actualText(r.outcome),
    r.passed ? 'PASS' : 'FAIL',
    detailText(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line), '', summaryLine(summarize(results))].join('\n') + '\n';
}

export function formatJson(results: ReplayResult[]): string {
  return `${JSON.stringify({ results, summary: summarize(results) }, null, 2)}\n`;
}
