// Drives the Airlock web console in real headless Chromium: Debian's `chromium`, through
// playwright-core (nothing downloaded). host/cli/tests/all/console.rs starts
// `airlock serve --http` with the example plugins, a runaway plugin and `garish` (whose
// every text carries `<script>` and an `<img onerror>`), and runs this with:
//
//   AIRLOCK_URL      http://127.0.0.1:PORT
//   AIRLOCK_ADMIN    an admin token; AIRLOCK_CALLER a caller token (same tenant)
//   AIRLOCK_SHOWN    garish's text as the host shows it, escaped (AIRLOCK_PAYLOAD: as sent)
//   AIRLOCK_CHROMIUM the browser (default /usr/bin/chromium)
//   AIRLOCK_SHOTS    if set, a folder to save screenshots of the main pages in
//
// Each step prints `ok - …`; the first failure prints `not ok - …` with the reason and
// exits 1. Page errors, failed requests, requests anywhere but the console's own files and
// API, and Content-Security-Policy violations fail the run too, except the one inline
// script a step injects on purpose.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const base = env.AIRLOCK_URL;
const shots = env.AIRLOCK_SHOTS;
assert.ok(base && env.AIRLOCK_ADMIN && env.AIRLOCK_CALLER && env.AIRLOCK_SHOWN, 'AIRLOCK_URL, AIRLOCK_ADMIN, AIRLOCK_CALLER and AIRLOCK_SHOWN are needed');

const browser = await chromium.launch({
  executablePath: env.AIRLOCK_CHROMIUM || '/usr/bin/chromium',
  // What works as root on a headless machine (see ../shared/notes/toolchains-and-services.md).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await watched(context);
page.setDefaultTimeout(15000);
if (shots) mkdirSync(shots, { recursive: true });

/** A new page of `ctx` whose errors, dialogs and CSP violations are recorded. */
async function watched(ctx) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('console', (m) => {
    // The browser reports every 4xx answer; the steps that expect one check it themselves.
    const expected = /^Failed to load resource: the server responded with a status of 4\d\d/;
    if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  p.on('dialog', (d) => { problems.push(`a dialog opened: ${d.message()}`); d.dismiss(); });
  p.on('request', (r) => {
    const url = new URL(r.url());
    const ours = url.origin === new URL(base).origin
      && (url.pathname === '/' || /^\/(console|api\/v1)\//.test(url.pathname));
    if (!ours && url.protocol !== 'data:') problems.push(`a request the console never makes: ${r.url()}`);
  });
  p.on('requestfailed', (r) => {
    // Leaving a page aborts its log stream; that is the console closing it, not a failure.
    if (!r.url().endsWith('/logs')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return p;
}

async function shot(name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Waits until `locator`'s text matches `pattern`, or fails naming what it saw. */
async function textOf(locator, pattern, what) {
  const deadline = Date.now() + 15000;
  let seen = '';
  while (Date.now() < deadline) {
    seen = (await locator.textContent().catch(() => '')) ?? '';
    if (pattern.test(seen)) return seen;
    await page.waitForTimeout(100);
  }
  assert.fail(`${what}: expected ${pattern}, saw ${JSON.stringify(seen.slice(0, 2000))}`);
}

async function signIn(p, token) {
  await p.goto(`${base}/`);
  await p.fill('#token', token);
  await p.click('#sign-in button[type=submit]');
  await p.waitForSelector('#nav:not([hidden])');
}

/** Opens `tool`'s form on the tools page. */
async function openTool(tool) {
  await page.goto(`${base}/#/tools`);
  const card = page.locator(`details[data-tool="${tool}"]`);
  await card.locator('summary').click();
  await card.locator('.tool-form.je-ready').waitFor();
  return card;
}

/** The tenant's stored configuration of `plugin`, read over the API. */
async function storedConfig(plugin) {
  const response = await fetch(`${base}/api/v1/plugins/${plugin}/config`, {
    headers: { Authorization: `Bearer ${env.AIRLOCK_ADMIN}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

/** Calls `tool` as the caller over the API (as another client would). */
async function callOverApi(tool, args) {
  const response = await fetch(`${base}/api/v1/tools/${tool}/call`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${env.AIRLOCK_CALLER}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ arguments: args }),
  });
  assert.equal(response.status, 200, `${tool}: ${await response.text()}`);
}

const steps = [
  ['sign in with an admin token and see the example plugins healthy', async () => {
    await signIn(page, env.AIRLOCK_ADMIN);
    for (const name of ['calculator', 'count-vowels', 'redact']) {
      const row = page.locator(`#plugins tr[data-plugin="${name}"]`);
      await textOf(row.locator('td:nth-child(4)'), /^ready$/, `${name}'s state`);
      await textOf(row.locator('td:nth-child(5)'), /^ready: ok$/, `${name}'s health`);
    }
    assert.ok(!page.url().includes(env.AIRLOCK_ADMIN), 'the token is not in the URL');
    assert.deepEqual(await context.cookies(), [], 'no cookie holds the token');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('airlock.token')), env.AIRLOCK_ADMIN);
  }],
  ['call calculator.add through the generated form and see 5, with its time and fuel', async () => {
    const card = await openTool('calculator.add');
    await card.locator('[name="root[a]"]').fill('2');
    await card.locator('[name="root[b]"]').fill('3');
    await card.locator('button[data-call="calculator.add"]').click();
    await textOf(card.locator('.tool-output pre.result'), /"result": 5\b/, 'the result');
    await textOf(card.locator('.tool-output .usage'), /^\d+\.\d\d ms · [\d,]+ fuel$/, 'the timing and fuel');
    await shot('tools');
  }],
  ['see a runaway plugin\'s call end as fuel exhausted', async () => {
    const card = await openTool('hostile.spin');
    await card.locator('button[data-call="hostile.spin"]').click();
    await textOf(card.locator('.tool-output .error-box'), /^fuel-exhausted: /, 'the typed error');
    await textOf(card.locator('.tool-output .usage'), /[\d,]+ fuel$/, 'the fuel it burnt');
  }],
  ['dispatch a hook and see the pipeline step by step', async () => {
    await page.goto(`${base}/#/hooks`);
    await page.selectOption('#hook-kind', 'before-tool-call');
    await page.fill('#hook-payload', JSON.stringify({ tool: 'mail.send', arguments: { to: 'ops@example.com' } }));
    await page.click('#hook-dispatch');
    await textOf(page.locator('#hook-steps'), /redact\s*replaced/, 'redact\'s step');
    await textOf(page.locator('#hook-output pre'), /\[REDACTED:email\]/, 'the redacted payload');
    await shot('hooks');
  }],
  ['edit a config through the generated form; Enable keeps it', async () => {
    await page.goto(`${base}/#/plugin/redact`);
    await page.locator('#config-form.je-ready').waitFor();
    await page.locator('#config-form:not([hidden])').waitFor();
    const list = page.locator('[data-schemapath="root.deny_tools"]');
    await list.locator('input.json-editor-opt-in').check();
    await list.locator('button.json-editor-btn-add').first().click();
    await list.locator('[name="root[deny_tools][0]"]').fill('rm');
    await page.click('#config-save');
    await textOf(page.locator('#config-result'), /^Saved/, 'the save');
    assert.deepEqual(await storedConfig('redact'), { deny_tools: ['rm'] });
    await page.click('button[data-action="enable"]');
    await textOf(page.locator('#health').locator('..'), /Enable: done/, 'the enable');
    assert.deepEqual(await storedConfig('redact'), { deny_tools: ['rm'] }, 'enabling again keeps it');
  }],
  ['edit a config as JSON and see the schema violation listed; a valid one saves', async () => {
    await page.goto(`${base}/#/plugin/redact`);
    await page.locator('#config-form.je-ready').waitFor();
    await page.click('#config-as-json');
    await page.fill('#config-json', '{"deny_tools": "rm"}');
    await page.click('#config-save');
    await textOf(page.locator('#config-result'), /bad-config: .*\/deny_tools: "rm" is not of type "array"/, 'the violation');
    await textOf(page.locator('#config-result .problems li'), /^\/deny_tools: "rm" is not of type "array"$/, 'the listed problem');
    await page.fill('#config-json', '{"deny_tools": ["rm", "curl"]}');
    await page.click('#config-save');
    await textOf(page.locator('#config-result'), /^Saved/, 'the save');
    assert.deepEqual(await storedConfig('redact'), { deny_tools: ['rm', 'curl'] });
    await shot('plugin');
  }],
  ['see the log tail update live', async () => {
    await page.goto(`${base}/#/plugin/garish`);
    await textOf(page.locator('#log-state'), /^live$/, 'the stream');
    const before = await page.locator('#log-tail > div').count();
    await callOverApi('garish.shout', {});
    await textOf(page.locator('#log-tail'), /WARN \[stderr\] stderr: /, 'the new lines');
    assert.ok(await page.locator('#log-tail > div').count() > before, 'lines were added');
  }],
  ['the <script> plugin renders inert: its text shows escaped, as text, and never runs', async () => {
    const shown = env.AIRLOCK_SHOWN;
    // The log tail (still on garish's page), the audit, the tools page, the dashboard.
    await textOf(page.locator('#log-tail'), new RegExp(`WARN \\[log\\] ${escapeRegExp(shown)}`), 'the log record');
    await textOf(page.locator('#audit'), new RegExp(escapeRegExp(shown)), 'the manifest description');
    // Its config schema, drawn as a form: every title, description and name as text.
    await page.locator('#config-form.je-ready').waitFor();
    await textOf(page.locator('#config'), new RegExp(escapeRegExp(shown)), 'the schema\'s title');
    await textOf(page.locator('#config'), /<img src=x onerror=pwned\(4\)>/, 'the property name');
    await assertInert('the plugin page');
    const card = await openTool('garish.shout');
    await textOf(card.locator('summary'), new RegExp(escapeRegExp(shown)), 'the tool description');
    await card.locator('button[data-call="garish.shout"]').click();
    await textOf(card.locator('.tool-output pre.result'), /<script>window\.pwned=1<\/script>/, 'the result');
    await assertInert('the tools page');
    await page.goto(`${base}/#/`);
    await textOf(page.locator('#plugins tr[data-plugin="garish"]'), new RegExp(escapeRegExp(shown)), 'the health message');
    await assertInert('the dashboard');
    await shot('dashboard');
  }],
  ['the Content-Security-Policy blocks an inline script', async () => {
    const response = await page.goto(`${base}/`);
    const policy = response.headers()['content-security-policy'];
    assert.match(policy, /script-src 'self'(;|$)/);
    const ran = await page.evaluate(async () => {
      const blocked = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true }));
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.body.append(script);
      return { ran: window.inlineRan === true, violated: await blocked };
    });
    assert.deepEqual(ran, { ran: false, violated: 'script-src-elem' });
    // The violation it reported on purpose.
    const i = problems.findIndex((p) => /Content Security Policy/.test(p));
    if (i >= 0) problems.splice(i, 1);
  }],
  ['a caller token sees the tools only', async () => {
    const callerContext = await browser.newContext();
    const p = await watched(callerContext);
    await signIn(p, env.AIRLOCK_CALLER);
    await p.waitForSelector('details[data-tool="calculator.add"]');
    assert.equal(new URL(p.url()).hash, '#/tools');
    assert.equal(await p.locator('nav a[href="#/"]').isHidden(), true, 'no Plugins link');
    await callerContext.close();
  }],
  ['signing out forgets the token', async () => {
    await page.goto(`${base}/#/tools`);
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('airlock.token')), null);
  }],
];

/** Nothing garish sent ran or became markup: no script, image, link, meta or style of its
 * anywhere, and the console still on its own page. */
async function assertInert(where) {
  const state = await page.evaluate(() => ({
    pwned: window.pwned ?? null,
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    markup: [...document.querySelectorAll('main img, main a[href^="javascript"], main a[href^="http"], meta[http-equiv], main style, main iframe, main object')].map((e) => e.outerHTML),
    where: location.origin,
  }));
  assert.deepEqual(state, {
    pwned: null,
    scripts: ['/console/vendor/jsoneditor.min.js', '/console/vendor/uPlot.iife.min.js', '/console/app.js'],
    markup: [],
    where: new URL(base).origin,
  }, where);
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let failed = false;
for (const [name, run] of steps) {
  try {
    await run();
    assert.deepEqual(problems, [], 'no page errors, failed requests or policy violations');
    console.log(`ok - ${name}`);
  } catch (error) {
    console.log(`not ok - ${name}\n${error.stack || error}`);
    failed = true;
    break;
  }
}
if (!failed && shots) await usageShot();
await browser.close();
process.exit(failed ? 1 : 0);

/** For the docs only: calculator's page after some seconds of calls, charts filled in. */
async function usageShot() {
  await signIn(page, env.AIRLOCK_ADMIN);
  await page.goto(`${base}/#/plugin/calculator`);
  for (let i = 0; i < 16; i++) {
    await Promise.all(Array.from({ length: 10 + 5 * (i % 4) }, (_, n) => callOverApi('calculator.add', { a: n, b: i })));
    await page.waitForTimeout(500);
  }
  await shot('plugin-usage');
}
