// The import rules of .dependency-cruiser.cjs (no cycles; nothing imports server/commands/) hold
// for server/, policies/ and certs/; and the check does see a cycle made of type-only imports.
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import t from 'tap';

const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as {
  forbidden: IForbiddenRuleType[];
  options: ICruiseOptions;
};

async function violations(dirs: string[]): Promise<{ cruised: number; violations: string[] }> {
  const result = await cruise(dirs, { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true });
  const output = result.output as ICruiseResult;
  return {
    cruised: output.summary.totalCruised,
    violations: output.summary.violations.map((v) => `${v.rule.name}: ${[v.from, ...(v.cycle ?? []).map((c) => c.name)].join(' -> ')} (${v.to})`),
  };
}

t.test('server, policies and certs have no import cycle and nothing imports the commands', async (t) => {
  const found = await violations(['server', 'policies', 'certs']);
  t.ok(found.cruised > 100, `every module is cruised (${found.cruised})`);
  t.same(found.violations, []);
});

t.test('a cycle through type-only imports is reported', async (t) => {
  const dir = relative(process.cwd(), t.testdir({
    'a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
    'b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
  }));
  const found = await violations([dir]);
  t.equal(found.violations.length, 1);
  t.match(found.violations[0], /^no-circular: .*a\.ts -> .*b\.ts -> .*a\.ts/);
});
