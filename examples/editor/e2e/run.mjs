// End-to-end test of the editor against the real chorus-server on SQLite, in Debian's Chromium
// driven by playwright-core. Starts the server itself (CHORUS_BUILD_DIR/bin/chorus-server),
// serves the built editor (dist/), walks the scenario as a user, saves screenshots to
// docs/img/, and stops the server. Exits non-zero on the first failed step.
//
//   npm run build && CHORUS_BUILD_DIR=/path/to/build npm run e2e
//
// Env: CHORUS_BUILD_DIR (required), CHROMIUM (default /usr/bin/chromium), E2E_HEADED=1,
// E2E_NO_SCREENSHOTS=1 (do not write docs/img).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const editorDir = resolve(here, '..');
const repo = resolve(editorDir, '../..');
const dist = join(editorDir, 'dist');
const imgDir = join(repo, 'docs/img');
const templatesDir = join(repo, 'examples/workflows');

function die(msg) {
  console.error(`e2e: ${msg}`);
  process.exit(2);
}

const buildDir = process.env.CHORUS_BUILD_DIR;
if (!buildDir) die('CHORUS_BUILD_DIR is not set: point it at a CMake build dir that has bin/chorus-server');
const serverBin = join(resolve(buildDir), 'bin/chorus-server');
if (!existsSync(serverBin)) die(`${serverBin} does not exist: build the chorus-server target first`);
if (!existsSync(join(dist, 'index.html'))) die(`${dist}/index.html is missing: run \`npm run build\` first`);
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromiumPath)) die(`${chromiumPath} is missing: apt-get install -y chromium (scripts/bootstrap does)`);

const tmp = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
let server;
let browser;
let passed = 0;
let failed = 0;

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const args = ['--port', '0', '--db', join(tmp, 'chorus.db'), '--static', dist, '--templates', templatesDir, '--log-level', 'warn'];
    server = spawn(serverBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chorus-server did not print its address within 60 s; output:\n${out}`)), 60_000);
    const onData = (d) => {
      out += d.toString();
      const m = /chorus-server listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1].replace(/\/$/, ''));
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (d) => {
      out += d.toString();
      if (process.env.E2E_VERBOSE) process.stderr.write(d);
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chorus-server exited with ${code} before listening:\n${out}`));
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const t = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok ${passed + failed} - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok ${passed + failed} - ${name}\n  ${String(e?.stack ?? e).split('\n').join('\n  ')}`);
    throw e;
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const shots = process.env.E2E_NO_SCREENSHOTS ? null : imgDir;
async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name) });
}

async function center(locator) {
  const b = await locator.boundingBox();
  check(b, `no bounding box for ${locator}`);
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

async function connect(page, from, to) {
  const src = await center(page.locator(`.react-flow__node[data-id="${from}"] .react-flow__handle.source`).first());
  const dst = await center(page.locator(`.react-flow__node[data-id="${to}"] .react-flow__handle.target`).first());
  await page.mouse.move(src.x, src.y);
  await page.mouse.down();
  await page.mouse.move((src.x + dst.x) / 2, (src.y + dst.y) / 2, { steps: 5 });
  await page.mouse.move(dst.x, dst.y, { steps: 5 });
  await page.mouse.up();
}

async function main() {
  const base = await startServer();
  console.log(`# server at ${base}, db in ${tmp}`);
  // A fresh profile per run. Playwright takes the profile directory as launchPersistentContext's
  // argument (it refuses --user-data-dir in args); the other flags are passed as given.
  const context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: chromiumPath,
    headless: !process.env.E2E_HEADED,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  browser = context;
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));

  const email = 'ada@example.com'; // the database is fresh for every run
  const password = 'correct horse battery staple';

  await step('register a new account', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Log in to Chorus' }).waitFor();
    await page.getByRole('link', { name: 'No account? Register' }).click();
    await page.getByLabel('Name').fill('E2E User');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
    check((await page.getByTestId('current-user').textContent()) === email, 'the header does not show the new user');
  });

  await step('build a 3-node workflow by drag and drop', async () => {
    await page.getByRole('button', { name: 'New workflow' }).click();
    const canvas = page.getByTestId('canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    await page.dragAndDrop('[data-testid="palette-input"]', '[data-testid="canvas"]', { targetPosition: { x: 120, y: box.height / 2 } });
    await page.dragAndDrop('[data-testid="palette-llm-simulated"]', '[data-testid="canvas"]', { targetPosition: { x: 420, y: box.height / 2 } });
    await page.dragAndDrop('[data-testid="palette-output"]', '[data-testid="canvas"]', { targetPosition: { x: 720, y: box.height / 2 } });
    for (const id of ['in1', 'llm1', 'out1']) await page.locator(`.react-flow__node[data-id="${id}"]`).waitFor();
    // Live validation: unconnected nodes are outlined with the reason.
    await page.locator('.react-flow__node.chorus-invalid[data-id="llm1"]').waitFor();
    check(((await page.getByRole('list', { name: 'problems of llm1' }).textContent()) ?? '').includes('has no incoming edge'), 'llm1 does not say why it is invalid');
    await connect(page, 'in1', 'llm1');
    await connect(page, 'llm1', 'out1');
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 2);
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__node.chorus-invalid').length === 0);
    // Undo removes the last edge, redo brings it back (keyboard, focus on the canvas).
    await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
    await page.keyboard.press('Control+z');
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 1);
    await page.keyboard.press('Control+Shift+z');
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 2);
    // Auto-layout puts the chain left to right without overlap.
    await page.getByRole('button', { name: 'Auto-layout' }).click();
    await page.waitForFunction(() => {
      const x = (id) => document.querySelector(`.react-flow__node[data-id="${id}"]`)?.getBoundingClientRect();
      const [a, b, c] = [x('in1'), x('llm1'), x('out1')];
      return a && b && c && a.right <= b.left && b.right <= c.left;
    });
    // Copy, paste and delete with the keyboard.
    await page.locator('.react-flow__node[data-id="llm1"]').click();
    await page.keyboard.press('Control+c');
    await page.keyboard.press('Control+v');
    await page.locator('.react-flow__node[data-id="llm_copy1"]').waitFor();
    await page.keyboard.press('Delete');
    await page.locator('.react-flow__node[data-id="llm_copy1"]').waitFor({ state: 'detached' });
    check((await page.locator('.react-flow__node').count()) === 3, 'delete removed more than the pasted node');
  });

  await step('configure the llm node (autocomplete, temperature) and save', async () => {
    await page.locator('.react-flow__node[data-id="llm1"]').click();
    await page.getByRole('tab', { name: 'Configure' }).click();
    const prompt = page.getByLabel('Prompt', { exact: true });
    await prompt.fill('');
    await prompt.pressSequentially('Write a short poem about {{inp');
    await page.getByRole('option', { name: '{{input}}' }).waitFor();
    await page.keyboard.press('Enter');
    await prompt.pressSequentially(' [[lorem:40]] [[token-delay:25]]');
    const value = await prompt.inputValue();
    check(value === 'Write a short poem about {{input}} [[lorem:40]] [[token-delay:25]]', `prompt is ${JSON.stringify(value)}`);
    await page.getByLabel('Temperature value').fill('0.3');
    await page.getByLabel('Workflow name').fill('E2E poem');
    await shot(page, 'editor-configure.png');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('save-status').filter({ hasText: /^Saved$/ }).waitFor();
    check(/#\/editor\/.+/.test(page.url()), `the URL does not name the saved workflow: ${page.url()}`);
  });

  await step('run on the simulated provider: streaming output, tokens and cost', async () => {
    await page.getByRole('tab', { name: 'Run' }).click();
    await page.getByLabel('Run input').fill('the sea');
    // Watch the node while it streams: text must appear while its status is still "running".
    const sawStreaming = page.waitForFunction(
      () => {
        const s = document.querySelector('[data-testid="status-llm1"]');
        const t = document.querySelector('[data-testid="stream-llm1"]');
        return s?.textContent === 'running' && (t?.textContent ?? '').trim().length > 0;
      },
      null,
      { polling: 'raf', timeout: 60_000 },
    );
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await sawStreaming;
    await page.getByTestId('run-status').filter({ hasText: /^succeeded$/ }).waitFor({ timeout: 60_000 });
    const output = (await page.getByTestId('run-output').textContent()) ?? '';
    check(output.trim().length > 0, 'the final output is empty');
    const cost = (await page.getByTestId('run-cost').textContent()) ?? '';
    check(/^\$\d/.test(cost) && cost !== '$0', `the total cost is ${cost}`);
    const tokens = Number(((await page.getByTestId('run-tokens').textContent()) ?? '').split(' ')[0]);
    check(tokens > 0, 'no tokens counted');
    check((await page.getByTestId('status-llm1').textContent()) === 'done', 'the llm node is not done');
    await shot(page, 'editor.png');
  });

  await step('cancel a slow run', async () => {
    // The simulated provider reads directives from the prompt: 400 tokens, 50 ms apart.
    await page.getByLabel('Run input').fill('the mountains [[lorem:400]] [[token-delay:50]]');
    await page.getByRole('button', { name: 'Rerun' }).click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="stream-llm1"]')?.textContent ?? '').length > 0 && document.querySelector('[data-testid="status-llm1"]')?.textContent === 'running', null, { polling: 'raf' });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('run-status').filter({ hasText: /^cancelled$/ }).waitFor({ timeout: 60_000 });
    check((await page.getByRole('button', { name: 'Rerun' }).isEnabled()), 'Rerun is not available after a cancel');
  });

  let executionUrl = '';
  await step('history shows the run, and its detail replays it on the canvas', async () => {
    await page.getByRole('link', { name: 'History' }).click();
    const table = page.getByRole('table', { name: 'Executions' });
    await table.waitFor();
    const rows = table.locator('tbody tr');
    check((await rows.count()) === 2, `expected 2 executions, found ${await rows.count()}`);
    await rows.filter({ hasText: 'E2E poem' }).filter({ hasText: 'cancelled' }).waitFor();
    // The status filter narrows the list.
    await shot(page, 'history.png');
    await page.getByLabel('Status').selectOption('succeeded');
    await page.waitForFunction(() => document.querySelectorAll('[aria-label="Executions"] tbody tr').length === 1);
    const ok = rows.filter({ hasText: 'E2E poem' }).filter({ hasText: 'succeeded' });
    await ok.waitFor();
    await ok.locator('a').click();
    await page.getByTestId('run-status').filter({ hasText: /^succeeded$/ }).waitFor();
    await page.locator('.react-flow__node[data-id="llm1"] [data-testid="status-llm1"]').filter({ hasText: 'done' }).waitFor();
    executionUrl = page.url();
    await shot(page, 'execution.png');
  });

  await step('usage shows the cost and tokens of the run', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    const cost = page.getByTestId('usage-total-cost');
    await cost.waitFor();
    check(!['$0', '—'].includes((await cost.textContent()) ?? ''), `usage total cost is ${await cost.textContent()}`);
    check(Number(((await page.getByTestId('usage-total-tokens').textContent()) ?? '0').replace(/\D/g, '')) > 0, 'usage shows no tokens');
    await page.getByTestId('usage-daily-chart').locator('.recharts-bar-rectangle path').first().waitFor();
    await page.getByRole('region', { name: 'By model' }).getByText('simulated/').first().waitFor();
    await shot(page, 'usage.png');
  });

  await step('template gallery: filter, preview on a read-only canvas, use a template', async () => {
    await page.getByRole('link', { name: 'Templates' }).click();
    const list = page.getByRole('list', { name: 'Templates' });
    await list.waitFor();
    const seeded = readdirSync(templatesDir).filter((f) => f.endsWith('.json')).length;
    const cards = list.locator('> li');
    await cards.nth(seeded - 1).waitFor();
    check((await cards.count()) === seeded, `gallery shows ${await cards.count()} templates, ${seeded} are seeded`);
    await shot(page, 'templates.png');
    // The tag filter narrows the gallery.
    await page.getByRole('button', { name: '#map-reduce' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('[aria-label="Templates"] > li').length < n, seeded);
    await page.getByRole('button', { name: '#map-reduce' }).click();
    const name = 'Summarise a long document (map-reduce)';
    await page.getByRole('button', { name: `Preview ${name}` }).click();
    await page.getByRole('heading', { name }).waitFor();
    await page.locator('.react-flow__node').nth(5).waitFor();
    check((await page.locator('.react-flow__node').count()) === 6, 'the preview does not show the 6 nodes');
    await shot(page, 'template-preview.png');
    await page.getByRole('button', { name: 'Use template' }).click();
    await page.getByLabel('Workflow name').waitFor();
    check((await page.getByLabel('Workflow name').inputValue()) === name, 'the copy does not carry the template name');
    await page.locator('.react-flow__node').nth(5).waitFor();
    check((await page.getByRole('tab', { name: /Problems/ }).textContent()) === 'Problems (0)', 'the copied template shows problems');
    // The copy runs as is on the simulated provider: map items stream, the summary comes out.
    await page.getByRole('tab', { name: 'Run' }).click();
    await page.getByLabel('Run input').fill('First paragraph about tides.\n\nSecond paragraph about waves.\n\nThird paragraph about storms.');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.getByTestId('run-status').filter({ hasText: /^succeeded$/ }).waitFor({ timeout: 60_000 });
    check(((await page.getByTestId('run-output').textContent()) ?? '').trim().length > 0, 'the template run has no output');
    check((await page.locator('[data-status="done"]').count()) === 6, 'not every node of the template is done');
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('link', { name }).waitFor();
  });

  const templateName = 'E2E poem template';
  await step('publish my workflow as a private template', async () => {
    await page.getByRole('link', { name: 'E2E poem' }).click();
    await page.getByRole('button', { name: 'Publish as template' }).click();
    const dialog = page.getByRole('dialog', { name: 'Publish as template' });
    await dialog.getByLabel('Name').fill(templateName);
    await dialog.getByLabel('Category').fill('writing');
    await dialog.getByLabel('Tags (comma separated)').fill('poem, e2e');
    await dialog.getByRole('button', { name: 'Publish' }).click();
    await dialog.getByText('Published.').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByLabel('Search templates').fill('E2E poem');
    const card = page.getByRole('list', { name: 'Templates' }).locator('> li');
    await card.filter({ hasText: templateName }).filter({ hasText: 'private' }).waitFor();
    check((await card.count()) === 1, 'search does not narrow the gallery to the published template');
  });

  await step('version history restores an earlier version; export and import the JSON', async () => {
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('link', { name: 'E2E poem', exact: true }).click();
    await page.locator('.react-flow__node[data-id="llm1"]').click();
    await page.getByRole('tab', { name: 'Configure' }).click();
    await page.getByLabel('Label', { exact: true }).fill('Poet');
    await page.locator('.react-flow__node[data-id="llm1"]').getByText('Poet').waitFor();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('save-status').filter({ hasText: /^Saved$/ }).waitFor();
    await page.getByRole('button', { name: 'Versions' }).click();
    const dialog = page.getByRole('dialog', { name: 'Version history' });
    await dialog.getByText('Version 1').waitFor();
    await dialog.getByRole('button', { name: 'Restore' }).first().click();
    await page.locator('.react-flow__node[data-id="llm1"]').getByText('llm1', { exact: true }).waitFor();
    await page.getByTestId('save-status').filter({ hasText: 'Unsaved changes' }).waitFor();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('save-status').filter({ hasText: /^Saved$/ }).waitFor();
    // Export downloads the document; importing it back opens it as a new, unsaved workflow.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export' }).click()]);
    const file = join(tmp, 'exported.json');
    await download.saveAs(file);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    check(doc.name === 'E2E poem' && doc.nodes.length === 3 && doc.edges.length === 2, `exported ${JSON.stringify(doc).slice(0, 200)}`);
    check(doc.nodes.every((n) => !('selected' in n) && !('measured' in n)), 'the export carries React Flow runtime fields');
    await page.getByLabel('Import workflow JSON').setInputFiles(file);
    await page.getByTestId('save-status').filter({ hasText: 'Unsaved changes' }).waitFor();
    await page.locator('.react-flow__node').nth(2).waitFor();
    check((await page.locator('.react-flow__node').count()) === 3, 'the import does not show 3 nodes');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('save-status').filter({ hasText: /^Saved$/ }).waitFor();
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('link', { name: 'E2E poem', exact: true }).nth(1).waitFor();
    check((await page.getByRole('link', { name: 'E2E poem', exact: true }).count()) === 2, 'the import was not saved as a second workflow');
    await shot(page, 'workflows.png');
  });

  await step('set and delete an API key (only the last 4 characters shown)', async () => {
    const key = 'sk-e2e-not-a-real-key-9XyZ';
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Provider', { exact: true }).selectOption('openai');
    await page.getByLabel('API key', { exact: true }).fill(key);
    await page.getByLabel('Check the key with the provider first').uncheck();
    await page.getByRole('button', { name: 'Save key' }).click();
    const row = page.getByTestId('key-openai');
    await row.waitFor();
    check(((await row.textContent()) ?? '').includes('••••9XyZ'), `row shows ${await row.textContent()}`);
    check(!((await page.content()) ?? '').includes('not-a-real'), 'the page shows more than the last 4 characters');
    await shot(page, 'api-keys.png');
    await page.getByRole('button', { name: 'Delete openai key' }).click();
    await row.waitFor({ state: 'detached' });
  });

  await step('plan page shows the tier and limits', async () => {
    await page.getByRole('link', { name: 'Plan' }).click();
    await page.getByTestId('plan-tier').waitFor();
    check(((await page.getByTestId('plan-tier').textContent()) ?? '').length > 0, 'no tier shown');
    await page.getByRole('region', { name: 'Limits' }).waitFor();
    await shot(page, 'plan.png');
  });

  await step('log out and back in; the execution is still there', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in to Chorus' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
    await page.goto(executionUrl);
    await page.getByTestId('run-status').filter({ hasText: /^succeeded$/ }).waitFor();
  });

  await step('no console errors', async () => {
    check(consoleErrors.length === 0, `console errors:\n${consoleErrors.join('\n')}`);
  });
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  if (failed === 0) console.error(e);
} finally {
  await browser?.close().catch(() => {});
  await stopServer().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(code);
