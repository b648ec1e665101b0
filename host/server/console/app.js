// The Airlock web console: a client of the admin API (`/api/v1`), served by
// `airlock serve --http` (host/server/src/serve/http/console.rs).
//
// Rules this file keeps:
// - The API token lives in this tab's sessionStorage and travels only in the
//   `Authorization` header: never in a URL, a cookie or the page.
// - Everything a plugin controls (names, descriptions, schemas, results, errors, log lines)
//   reaches the page as text: the DOM is built with `el()`, which turns every string into a
//   text node through `shown()`, the one escaping function (the same rule as the host's
//   `airlock::text::escape`). Nothing is ever assigned to innerHTML.
// - Schemas from plugins are cut down to standard JSON Schema keywords (`formSchema`)
//   before the form library sees them, so a plugin cannot use the library's own extensions
//   (links, templates, remote references, rich-text editors).
'use strict';

const TOKEN = 'airlock.token';
const ROLE = 'airlock.role';
const main = document.getElementById('main');
/** The page on screen: `live` until the next navigation, when `stops` end its timers and
 * streams. Each page holds its own and checks `live` after every wait, so nothing a page
 * started outlives it, however quickly the operator moves on. */
let view = { live: false, stops: [] };

// ---------------------------------------------------------------------------------------
// Text from plugins

/** The characters `airlock::text::escape` replaces: controls, format characters (bidi
 * overrides, zero-width), line and paragraph separators, unassigned code points, and a few
 * invisible letters. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cn}\u034F\u115F\u1160\u3164\uFFA0]/gu;

/** `text` with every unsafe character written as a visible escape (`\n`, `\u{1b}`), as
 * the host shows it on a terminal. Idempotent, like the host's. */
function shown(text) {
  return String(text).replace(UNSAFE, (c) => {
    switch (c) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\u{${c.codePointAt(0).toString(16)}}`;
    }
  });
}

/** A new element. `attrs`: `class`, `on<event>` listeners, or plain attributes; children:
 * nodes, or strings (shown as text), nested arrays, and null/false (skipped). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(shown(child)));
  }
  return node;
}

/** JSON for people, as a text node: indented, every unsafe character escaped. (The line
 * feeds are the indentation's own: JSON writes those inside strings as `\n`.) */
function pretty(value) {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return document.createTextNode(text.split('\n').map(shown).join('\n'));
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------
// The API

/** A failed API request: the HTTP status and the API's error body. */
class ApiFailure extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `http-${status}`;
    this.details = error.details || null;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN);
}

function isAdmin() {
  return sessionStorage.getItem(ROLE) === 'admin';
}

/** Calls the API; answers the JSON body or throws an ApiFailure. A 401 signs out (unless
 * `signingIn`: the sign-in form reports it itself). */
async function api(method, path, body, { signingIn = false } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: 'bad-response', message: text.slice(0, 500) } };
  }
  if (response.status === 401 && token() && !signingIn) {
    signOut('The token is no longer valid: sign in again.');
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

/** Follows a server-sent event stream with the token in a header (EventSource cannot send
 * one): `on.open()` once it is answered, `on.event(name, data)` per event, `on.end(error)`
 * when it ends. Answers the function that stops it. */
function follow(path, on) {
  const control = new AbortController();
  (async () => {
    try {
      const response = await fetch(path, {
        headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
        signal: control.signal,
        cache: 'no-store',
        credentials: 'omit',
      });
      if (!response.ok) throw new ApiFailure(response.status, await response.json().catch(() => null));
      on.open();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) on.event(name, JSON.parse(data.join('\n')));
        }
      }
      on.end(null);
    } catch (error) {
      if (!control.signal.aborted) on.end(error);
    }
  })();
  return () => control.abort();
}

// ---------------------------------------------------------------------------------------
// Pieces

function errorBox(error) {
  const problems = (error.details && error.details.problems) || [];
  return el('div', { class: 'error-box', 'data-error': error.code },
    el('strong', {}, error.code), ': ', error.message,
    problems.length ? el('ul', { class: 'problems' }, problems.map((p) => el('li', {}, p))) : null);
}

function usageLine(usage) {
  if (!usage) return null;
  const fuel = usage.fuel === null || usage.fuel === undefined ? 'no guest code ran' : `${usage.fuel.toLocaleString('en')} fuel`;
  return el('div', { class: 'meta usage' }, `${usage.duration_ms.toFixed(2)} ms · ${fuel}`);
}

/** Runs `task` every `ms` while `page` is on screen, the next run `ms` after the last
 * ended (a slow answer never stacks requests). */
function every(page, ms, task) {
  let timer;
  const tick = async () => {
    await task().catch(() => {});
    if (page.live) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  own(page, () => clearTimeout(timer));
}

/** Ends `stop`'s timer or stream with `page`; at once if the page is already gone. */
function own(page, stop) {
  if (page.live) page.stops.push(stop);
  else stop();
}

/** A schema for the form library: standard keywords only (see the header comment). */
function formSchema(schema, depth = 0) {
  if (typeof schema === 'boolean') return schema;
  if (!schema || typeof schema !== 'object' || Array.isArray(schema) || depth > 24) return {};
  const plain = ['type', 'required', 'enum', 'const', 'default', 'minimum', 'maximum',
    'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'pattern',
    'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'title', 'description'];
  const formats = ['date', 'date-time', 'time', 'email', 'uri', 'url', 'uuid', 'ipv4', 'ipv6', 'hostname'];
  const scalar = (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  const out = {};
  for (const key of plain) if (key in schema) out[key] = schema[key];
  // The library writes object-valued enum options into the page as markup: plain values only.
  if ('enum' in out && !(Array.isArray(out.enum) && out.enum.every(scalar))) delete out.enum;
  if ('const' in out && !scalar(out.const)) delete out.const;
  for (const key of ['title', 'description']) if (key in out && typeof out[key] !== 'string') delete out[key];
  if ('required' in out && !(Array.isArray(out.required) && out.required.every((r) => typeof r === 'string'))) delete out.required;
  if (typeof schema.format === 'string' && formats.includes(schema.format)) out.format = schema.format;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#')) out.$ref = schema.$ref;
  for (const key of ['properties', 'patternProperties', '$defs', 'definitions']) {
    if (schema[key] && typeof schema[key] === 'object') {
      out[key] = Object.fromEntries(Object.entries(schema[key]).map(([k, v]) => [k, formSchema(v, depth + 1)]));
    }
  }
  for (const key of ['items', 'additionalProperties', 'not']) {
    if (key in schema) out[key] = formSchema(schema[key], depth + 1);
  }
  for (const key of ['oneOf', 'anyOf', 'allOf']) {
    if (Array.isArray(schema[key])) out[key] = schema[key].map((s) => formSchema(s, depth + 1));
  }
  return out;
}

let formLibraryReady = false;
/** json-editor, with its text handling made safe: it strips tags from titles by parsing
 * them as HTML in a detached element (`cleanText`), which would still load an `<img>`
 * a plugin put in a description. Every place that text reaches the page assigns it as
 * text (DOMPurify is not loaded), so it is shown, escaped, instead; form values are kept
 * exactly as typed (`purify`). */
function formLibrary() {
  const JSONEditor = window.JSONEditor;
  if (!formLibraryReady) {
    JSONEditor.AbstractEditor.prototype.cleanText = (text) => shown(text ?? '');
    JSONEditor.AbstractTheme.prototype.cleanText = (text) => shown(text ?? '');
    JSONEditor.AbstractEditor.prototype.purify = (value) => value;
    JSONEditor.defaults.options.ajax = false;
    formLibraryReady = true;
  }
  return JSONEditor;
}

/** A form titled `title` for `schema` in `holder`, starting at `value`. Optional
 * properties get an opt-in box: left out unless ticked, as the schema means. */
function form(holder, title, schema, value) {
  const JSONEditor = formLibrary();
  return new JSONEditor(holder, {
    schema: { ...formSchema(schema), title },
    startval: value,
    show_opt_in: true,
    // A schema that refers to itself (`$ref: "#"`) would nest forms without end.
    max_depth: 8,
    theme: 'html',
    iconlib: null,
    disable_edit_json: true,
    disable_properties: true,
    disable_collapse: true,
    disable_array_reorder: true,
    prompt_before_delete: false,
    show_errors: 'change',
  });
}

/** Waits until the form library has taken in the field being edited: it reads a field on
 * its `change` event, which a click elsewhere fires only as the field loses focus. */
async function settled() {
  if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}

function render(...children) {
  main.replaceChildren(...children);
}

function card(title, ...children) {
  return el('section', { class: 'card' }, title ? el('h3', {}, title) : null, ...children);
}

// ---------------------------------------------------------------------------------------
// Sign-in

function signIn(message) {
  document.getElementById('nav').hidden = true;
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'alk_…' });
  const status = el('div', { id: 'sign-in-status' }, message || '');
  const submit = async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN, input.value.trim());
    try {
      await api('GET', '/api/v1/plugins', undefined, { signingIn: true });
      sessionStorage.setItem(ROLE, 'admin');
    } catch (error) {
      if (error.status !== 403) {
        sessionStorage.removeItem(TOKEN);
        status.replaceChildren(errorBox(error));
        return;
      }
      sessionStorage.setItem(ROLE, 'caller');
    }
    const start = isAdmin() ? '#/' : '#/tools';
    if (location.hash === start) route();
    else location.hash = start; // routes through `hashchange`
  };
  render(el('form', { class: 'signin card', id: 'sign-in', onsubmit: submit },
    el('h2', {}, 'Sign in'),
    el('p', { class: 'muted' }, 'With an API token from `airlock token create`. It is kept in this tab only.'),
    el('label', { for: 'token' }, 'API token'), input,
    el('button', { class: 'primary', type: 'submit' }, 'Sign in'), status));
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ROLE);
  history.replaceState(null, '', '#/');
  stopPage();
  signIn(message);
}

// ---------------------------------------------------------------------------------------
// The dashboard: every registration of the tenant, with health and usage, refreshed.

async function dashboard(page) {
  const body = el('tbody');
  const stamp = el('span', { class: 'meta' });
  const failure = el('div');
  render(el('h2', {}, 'Plugins ', stamp), failure,
    el('table', { id: 'plugins' },
      el('thead', {}, el('tr', {}, ['Plugin', 'Version', 'Source', 'State', 'Health', 'Calls',
        'Errors', 'p50 ms', 'p99 ms', 'Fuel/call', 'Memory MB'].map((h) => el('th', {}, h)))),
      body));
  const refresh = async () => {
    try {
      const list = await api('GET', '/api/v1/plugins');
      if (!page.live) return;
      const installed = new Map(list.installed.map((p) => [p.name, p]));
      const rows = await Promise.all(list.registrations.map((r) => dashboardRow(r, installed.get(r.plugin))));
      body.replaceChildren(...rows);
      failure.replaceChildren();
      stamp.textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
    } catch (error) {
      failure.replaceChildren(errorBox(error));
    }
  };
  await refresh();
  every(page, 2000, refresh);
}

async function dashboardRow(registration, installed) {
  let health = null;
  let problem = null;
  if (registration.enabled) {
    try {
      health = await api('GET', `/api/v1/plugins/${enc(registration.plugin)}/health`);
    } catch (error) {
      problem = error;
    }
  }
  const usage = (health && health.usage) || {};
  const state = registration.enabled ? (health ? health.state : 'unavailable') : 'disabled';
  const report = health && health.report;
  const errors = Object.values(usage.errors || {}).reduce((a, b) => a + b, 0);
  const num = (v, digits = 0) => el('td', { class: 'num' }, v === undefined ? '' : Number(v).toFixed(digits));
  return el('tr', { 'data-plugin': registration.plugin, 'data-state': state },
    el('td', {}, el('a', { href: `#/plugin/${enc(registration.plugin)}` }, registration.plugin)),
    el('td', {}, health ? health.version : registration.version),
    el('td', { class: 'muted' }, installed ? (installed.source || 'local folder') : ''),
    el('td', { class: `state-${state}` }, state),
    el('td', { class: report ? `status-${report.status}` : 'bad' },
      report ? `${report.status}: ${report.message}` : (problem ? problem.message : (health && health.error) || '')),
    num(usage.calls), num(errors), num(usage.latency_p50_ms, 2), num(usage.latency_p99_ms, 2),
    num(usage.fuel_per_call), num(usage.memory_mb, 1));
}

// ---------------------------------------------------------------------------------------
// One plugin: health and charts, actions, audit, configuration, log tail.

async function pluginPage(page, name) {
  const path = `/api/v1/plugins/${enc(name)}`;
  const health = el('div', { id: 'health' });
  const actions = el('div', { class: 'actions' });
  const outcome = el('div');
  const charts = el('div', { class: 'charts', id: 'charts' });
  const audit = el('div', { id: 'audit' });
  const config = el('div', { id: 'config' });
  const logs = el('div', { class: 'log', id: 'log-tail' });
  const logState = el('span', { class: 'meta', id: 'log-state' }, 'connecting…');
  render(el('h2', {}, 'Plugin ', el('code', {}, name)),
    card('Health', actions, outcome, health),
    card('Usage', charts),
    card('Log tail ', logState, logs),
    card('Audit', audit),
    card('Configuration', config));

  const act = (label, method, suffix) => el('button', {
    type: 'button', 'data-action': suffix,
    onclick: async () => {
      outcome.replaceChildren(el('span', { class: 'meta' }, `${label}…`));
      try {
        // No body: enabling again keeps the stored configuration.
        await api(method, `${path}/${suffix}`);
        outcome.replaceChildren(el('span', { class: 'ok' }, `${label}: done`));
        await refresh();
      } catch (error) {
        outcome.replaceChildren(errorBox(error));
      }
    },
  }, label);
  actions.replaceChildren(act('Enable', 'POST', 'enable'), act('Disable', 'POST', 'disable'), act('Reset', 'POST', 'reset'));

  const series = usageCharts(charts);
  const refresh = async () => {
    try {
      const h = await api('GET', `${path}/health`);
      health.replaceChildren(healthTable(h));
      series.add(h.usage);
    } catch (error) {
      health.replaceChildren(errorBox(error));
    }
  };
  await refresh();
  if (!page.live) return;
  every(page, 2000, refresh);
  own(page, tailLogs(`${path}/logs`, logs, logState));
  let report;
  try {
    report = await api('GET', `${path}/audit`);
  } catch (error) {
    audit.replaceChildren(errorBox(error));
    return;
  }
  audit.replaceChildren(auditView(report));
  configEditor(config, path, report.config && report.config.schema);
}

function healthTable(h) {
  const u = h.usage || {};
  const rows = [
    ['State', el('span', { class: `state-${h.state}`, 'data-field': 'state' }, h.state)],
    ['Version', h.version],
    ['Health', h.report ? `${h.report.status}: ${h.report.message}` : (h.error || '')],
    ['Calls', String(u.calls ?? 0)],
    ['Errors by kind', Object.entries(u.errors || {}).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'],
    ['Latency', `mean ${(u.latency_ms ?? 0).toFixed(2)} ms · p50 ${(u.latency_p50_ms ?? 0).toFixed(2)} ms · p99 ${(u.latency_p99_ms ?? 0).toFixed(2)} ms`],
    ['Fuel', `${(u.fuel_per_call ?? 0).toFixed(0)} per call · ${u.fuel_total ?? 0} in total · ${u.fuel_last ?? 0} last`],
    ['Memory', `${(u.memory_mb ?? 0).toFixed(2)} MB peak`],
    ['Instances', `${u.live_instances ?? 0} live, ${u.idle_instances ?? 0} idle`],
    ['Reloads', String(h.reloads ?? 0)],
  ];
  return el('table', {}, el('tbody', {}, rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))));
}

/** Three small charts fed by the health polls: calls per second, latency, fuel per call. */
function usageCharts(holder) {
  const times = [];
  const rate = [];
  const p50 = [];
  const p99 = [];
  const fuel = [];
  let last = null;
  const make = (title, labels) => new window.uPlot({
    title, width: 360, height: 180,
    series: [{}, ...labels.map((label, i) => ({ label, stroke: ['#0b5fff', '#cf222e'][i], width: 2 }))],
    axes: [{}, { size: 60 }],
  }, [times, ...labels.map(() => [])], holder);
  const calls = make('Calls per second', ['calls/s']);
  const latency = make('Latency (ms)', ['p50', 'p99']);
  const perCall = make('Fuel per call', ['fuel']);
  return {
    add(usage) {
      if (!usage) return;
      const now = Date.now() / 1000;
      if (last) {
        times.push(now);
        rate.push((usage.calls - last.calls) / Math.max(now - last.time, 1e-3));
        p50.push(usage.latency_p50_ms);
        p99.push(usage.latency_p99_ms);
        fuel.push(usage.fuel_per_call);
        for (const list of [times, rate, p50, p99, fuel]) if (list.length > 150) list.shift();
        calls.setData([times, rate]);
        latency.setData([times, p50, p99]);
        perCall.setData([times, fuel]);
      }
      last = { calls: usage.calls, time: now };
    },
  };
}

function auditView(report) {
  const caps = Object.entries(report.capabilities || {});
  const limits = report.limits || {};
  const show = (v) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  const limitNames = ['fuel', 'deadline_ms', 'memory', 'output', 'http_body'];
  const verdict = report.verdict || {};
  return el('div', {},
    el('p', {}, report.plugin ? `${report.plugin.name} ${report.plugin.version} — ${report.plugin.description}` : ''),
    el('p', { class: verdict.loads ? 'ok' : 'bad' }, verdict.loads ? 'Loads under this policy' : 'Refused under this policy',
      (verdict.reasons || []).map((r) => el('div', {}, r))),
    el('table', { id: 'capabilities' },
      el('thead', {}, el('tr', {}, ['Capability', 'Requested', 'Allowed by policy', 'Effective grant'].map((h) => el('th', {}, h)))),
      el('tbody', {}, caps.map(([name, row]) => el('tr', {},
        el('th', {}, name), el('td', {}, show(row.requested)), el('td', {}, show(row.allowed)), el('td', {}, show(row.effective)))))),
    el('h3', {}, 'Limits'),
    el('table', { id: 'limits' },
      el('thead', {}, el('tr', {}, ['Limit', 'Requested', 'Policy cap', 'Effective'].map((h) => el('th', {}, h)))),
      el('tbody', {}, limitNames.map((n) => el('tr', {}, el('th', {}, n),
        el('td', {}, show(limits.requested && limits.requested[n])),
        el('td', {}, show(limits.caps && limits.caps[n])),
        el('td', {}, show(limits.effective && limits.effective[n])))))),
    (report.warnings || []).length ? el('div', { class: 'error-box' }, report.warnings.map((w) => el('div', {}, w))) : null,
    el('details', {}, el('summary', {}, `Imports (${(report.imports || []).length})`),
      el('ul', {}, (report.imports || []).map((i) => el('li', {}, `${i.import} → ${i.capability}`)))),
    el('p', { class: 'meta' }, `signature: ${report.signature && report.signature.signed ? (report.signature.verified ? 'verified' : 'not verified') : 'unsigned'} · source: ${report.source ? JSON.stringify(report.source) : 'local folder'}`));
}

/** The tenant's configuration: a form generated from the manifest's `[config]` schema, or
 * JSON — when there is no schema, on request, or whenever the form cannot hold the stored
 * configuration exactly (a key the form does not show would be lost on save). Saved with
 * PUT; the schema's violations are listed. */
async function configEditor(holder, path, schema) {
  let current;
  try {
    current = await api('GET', `${path}/config`);
  } catch (error) {
    holder.replaceChildren(errorBox(error));
    return;
  }
  if (!isAdmin()) return;
  const formHolder = el('div', { id: 'config-form' });
  const raw = el('textarea', { class: 'json', id: 'config-json', spellcheck: 'false' });
  raw.value = JSON.stringify(current, null, 2);
  const note = el('div', { class: 'meta', id: 'config-note' });
  const result = el('div', { id: 'config-result' });
  const bad = (error) => result.replaceChildren(errorBox({ code: 'bad-json', message: String(error.message) }));
  // JSON until the form has loaded and shown it holds the stored configuration.
  let rawMode = true;
  let editor = null;
  const toggle = el('button', { type: 'button', id: 'config-as-json', hidden: true }, 'Edit as JSON');
  const showMode = () => {
    raw.hidden = !rawMode;
    formHolder.hidden = rawMode;
    toggle.textContent = rawMode ? 'Edit as a form' : 'Edit as JSON';
  };
  if (schema) {
    try {
      editor = form(formHolder, 'Configuration', schema, current);
      editor.on('ready', () => {
        toggle.hidden = false;
        if (same(editor.getValue(), current)) rawMode = false;
        else note.textContent = 'The form cannot hold the stored configuration exactly, so it is shown as JSON.';
        showMode();
      });
    } catch (error) {
      note.textContent = `The form cannot show this schema (${error.message}): edit the configuration as JSON.`;
    }
  }
  toggle.addEventListener('click', async () => {
    if (rawMode) {
      let value;
      try {
        value = JSON.parse(raw.value);
      } catch (error) {
        bad(error);
        return;
      }
      editor.setValue(value);
      if (!same(editor.getValue(), value)) {
        note.textContent = 'The form cannot hold this configuration exactly: keep editing it as JSON.';
        return;
      }
    } else {
      await settled();
      raw.value = JSON.stringify(editor.getValue(), null, 2);
    }
    note.textContent = '';
    rawMode = !rawMode;
    showMode();
  });
  const save = el('button', {
    type: 'button', class: 'primary', id: 'config-save',
    onclick: async () => {
      await settled();
      let value;
      try {
        value = rawMode ? JSON.parse(raw.value) : editor.getValue();
      } catch (error) {
        bad(error);
        return;
      }
      try {
        await api('PUT', `${path}/config`, value);
        result.replaceChildren(el('div', { class: 'result-box' }, 'Saved; the plugin restarted with it.'));
      } catch (error) {
        result.replaceChildren(errorBox(error));
      }
    },
  }, 'Save configuration');
  showMode();
  holder.replaceChildren(el('div', {},
    schema ? null : el('p', { class: 'muted' }, 'The manifest declares no [config] schema.'),
    note, formHolder, raw, el('div', { class: 'actions' }, save, toggle), result));
}

/** Whether `a` and `b` are the same JSON, whatever the order of object keys. */
function same(a, b) {
  const sorted = (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
    : v);
  return JSON.stringify(a, sorted) === JSON.stringify(b, sorted);
}

/** Follows the plugin's log tail into `box`; answers the function that stops it. */
function tailLogs(path, box, state) {
  const add = (line, level) => {
    box.append(el('div', { class: `level-${level}` }, line));
    while (box.childElementCount > 500) box.firstElementChild.remove();
    box.scrollTop = box.scrollHeight;
  };
  return follow(path, {
    open: () => { state.textContent = 'live'; },
    event: (event, data) => {
      if (event === 'log') {
        const time = new Date(data.time_ms).toLocaleTimeString('en-GB');
        add(`${time} ${data.level.toUpperCase()} [${data.source}] ${data.text}`, data.level);
      } else if (event === 'skipped') {
        add(`… ${data.skipped} records skipped (the console fell behind)`, 'warn');
      }
    },
    end: (error) => { state.textContent = error ? `stopped: ${shown(error.message)}` : 'ended'; },
  });
}

// ---------------------------------------------------------------------------------------
// Tools: a form per tool from its JSON Schema, a Call button, the result or typed error,
// with the time and fuel the call took.

async function toolsPage(page) {
  const list = el('div', { id: 'tools' });
  render(el('h2', {}, 'Tools'), list);
  let tools;
  try {
    tools = (await api('GET', '/api/v1/tools')).tools;
    if (!page.live) return;
  } catch (error) {
    list.replaceChildren(errorBox(error));
    return;
  }
  if (!tools.length) list.append(el('p', { class: 'muted' }, 'No tools: enable a plugin first.'));
  for (const tool of tools) list.append(toolCard(tool));
}

function toolCard(tool) {
  const holder = el('div', { class: 'tool-form' });
  const output = el('div', { class: 'tool-output' });
  let editor = null;
  const call = el('button', {
    type: 'button', class: 'primary', 'data-call': tool.name,
    onclick: async () => {
      await settled();
      const problems = editor ? editor.validate() : [];
      if (problems.length) {
        output.replaceChildren(errorBox({ code: 'bad-arguments', message: 'the form does not match the schema',
          details: { problems: problems.map((p) => `${p.path}: ${p.message}`) } }));
        return;
      }
      call.disabled = true;
      output.replaceChildren(el('span', { class: 'meta' }, 'calling…'));
      try {
        const answer = await api('POST', `/api/v1/tools/${enc(tool.name)}/call`, { arguments: editor ? editor.getValue() : {} });
        output.replaceChildren(el('div', { class: 'result-box' }, el('pre', { class: 'result' }, pretty(answer.result))), usageLine(answer.usage));
      } catch (error) {
        output.replaceChildren(errorBox(error), usageLine(error.details && error.details.usage));
      } finally {
        call.disabled = false;
      }
    },
  }, 'Call');
  const details = el('details', { class: 'tool card', 'data-tool': tool.name },
    el('summary', {}, el('code', {}, tool.name), ' — ', tool.description),
    holder, el('div', { class: 'actions' }, call), output);
  // Forms are built when opened: a plugin may offer many tools.
  details.addEventListener('toggle', () => {
    if (details.open && !editor) editor = form(holder, 'Arguments', tool.input_schema || { type: 'object' }, undefined);
  });
  return details;
}

// ---------------------------------------------------------------------------------------
// Hooks: a payload editor and the pipeline's step-by-step result.

const HOOK_KINDS = ['before-tool-call', 'after-tool-call', 'before-agent-run', 'after-agent-run', 'on-error', 'on-reasoning-step'];

function hooksPage() {
  const kind = el('select', { id: 'hook-kind' }, HOOK_KINDS.map((k) => el('option', { value: k }, k)));
  const payload = el('textarea', { class: 'json', id: 'hook-payload', spellcheck: 'false' });
  payload.value = JSON.stringify({ tool: 'shell.run', arguments: { command: 'echo hi', email: 'ops@example.com' } }, null, 2);
  const session = el('input', { id: 'hook-session', placeholder: 'session id (optional)' });
  const output = el('div', { id: 'hook-output' });
  const send = el('button', {
    type: 'button', class: 'primary', id: 'hook-dispatch',
    onclick: async () => {
      let body;
      try {
        body = { payload: JSON.parse(payload.value) };
      } catch (error) {
        output.replaceChildren(errorBox({ code: 'bad-json', message: String(error.message) }));
        return;
      }
      if (session.value) body.session = session.value;
      try {
        output.replaceChildren(dispatchView(await api('POST', `/api/v1/hooks/${enc(kind.value)}`, body)));
      } catch (error) {
        output.replaceChildren(errorBox(error));
      }
    },
  }, 'Dispatch');
  render(el('h2', {}, 'Hooks'), card(null, el('label', {}, 'Event ', kind), ' ', session, payload,
    el('div', { class: 'actions' }, send)), output);
}

function dispatchView(d) {
  const verdict = d.vetoed ? `vetoed by ${d.vetoed[0]}: ${d.vetoed[1]}` : d.stopped_by ? `stopped: ${d.stopped_by} failed` : 'allowed';
  return card('Result',
    el('p', { class: d.vetoed || d.stopped_by ? 'bad' : 'ok', id: 'hook-verdict' }, verdict),
    el('table', { id: 'hook-steps' },
      el('thead', {}, el('tr', {}, ['#', 'Plugin', 'Outcome', 'Detail', 'Time'].map((h) => el('th', {}, h)))),
      el('tbody', {}, d.steps.map((s, i) => {
        const { plugin, outcome, elapsed, ...rest } = s;
        return el('tr', {}, el('td', {}, String(i + 1)), el('td', {}, plugin), el('td', {}, outcome),
          el('td', {}, Object.keys(rest).length ? JSON.stringify(rest) : ''), el('td', { class: 'num' }, `${elapsed} µs`));
      }))),
    el('h3', {}, 'Payload after the chain'), el('pre', {}, pretty(d.payload)));
}

// ---------------------------------------------------------------------------------------
// Routing

/** Ends the page on screen (its timers and streams) and answers the next one's record. */
function stopPage() {
  view.live = false;
  for (const stop of view.stops) stop();
  view = { live: true, stops: [] };
  return view;
}

async function route() {
  const page = stopPage();
  if (!token()) return signIn();
  const nav = document.getElementById('nav');
  nav.hidden = false;
  for (const link of nav.querySelectorAll('[data-admin]')) link.hidden = !isAdmin();
  document.getElementById('who').textContent = isAdmin() ? 'admin' : 'caller';
  const hash = location.hash || '#/';
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('current', link.getAttribute('href') === hash);
  const plugin = hash.match(/^#\/plugin\/([^/]+)$/);
  if (hash === '#/tools' || (!isAdmin() && hash !== '#/hooks')) return toolsPage(page);
  if (hash === '#/hooks') return hooksPage();
  if (plugin) {
    let name;
    try {
      name = decodeURIComponent(plugin[1]);
    } catch {
      return dashboard(page);
    }
    return pluginPage(page, name);
  }
  return dashboard(page);
}

document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', route);
route();
