// Runs one scenario of browser/scenarios with the JSON arguments a test gives it:
//   node browser/run.mjs <scenario> '<json>'
// It prints one JSON line (the scenario's report) and exits 0; on a problem it prints the
// problems and exits 1. The Rust tests (crates/testkit/src/browser.rs) call it.
import { launch } from './harness.mjs';

const [name, json] = process.argv.slice(2);
const scenario = await import(`./scenarios/${name}.mjs`);
const browser = await launch();
let code = 0;
try {
  const report = await scenario.default(browser, JSON.parse(json || '{}'));
  if (report.problems && report.problems.length) code = 1;
  process.stdout.write(JSON.stringify(report) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ problems: [`the scenario failed: ${e.stack || e}`] }) + '\n');
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
