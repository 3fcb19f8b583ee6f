// Starts the real `wangge serve` on a free loopback port over a small demo
// county made with `wangge demo` (cached under target/browser-demo/), and
// creates one user per role.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const BIN = process.env.WANGGE_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'debug/wangge');

export const PASSWORD = 'Test-pass-123';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The demo county's data dir with `grids` tier-3 grids, made once and cached. */
export function demo(grids, events) {
  const dir = path.join(ROOT, 'target', 'browser-demo', `g${grids}-e${events}`);
  const grids_ = path.join(dir, 'grids.geojson');
  // Made again when the binary is newer than the cached county.
  if (!fs.existsSync(grids_) || fs.statSync(BIN).mtimeMs > fs.statSync(grids_).mtimeMs) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync(BIN, ['demo', '--out', dir, '--grids', String(grids), '--events', String(events)], { stdio: 'inherit' });
  }
  return dir;
}

/** Units of the demo's grids.geojson: [{code, name, level, parent}]. */
export function demoUnits(dir) {
  const fc = JSON.parse(fs.readFileSync(path.join(dir, 'grids.geojson'), 'utf8'));
  return fc.features.map((f) => f.properties);
}

export async function waitHttp(url, ms, proc) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/**
 * Starts the service over a copy of the demo data dir (the service writes
 * its database and secret there). Returns {base, users, stop, log}; `users`
 * maps role → {username, password, scopes}. `env`: settings for the service
 * (WANGGE_* variables).
 */
export async function startService({ grids = 600, events = 30000, chiefGrid, leaderScope, analystScope, env = {} } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const src = demo(grids, events);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'wangge-serve-'));
  for (const f of fs.readdirSync(src)) {
    if (fs.statSync(path.join(src, f)).isFile()) fs.copyFileSync(path.join(src, f), path.join(data, f));
  }
  const users = {};
  const addUser = (role, name, scopes = []) => {
    const args = ['user', 'add', '--data', data, '--role', role, '--password', PASSWORD];
    for (const s of scopes) args.push('--scope', s);
    execFileSync(BIN, [...args, name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    users[role] = { username: name, password: PASSWORD, scopes };
  };
  addUser('admin', 'test-admin');
  const units = demoUnits(src);
  const county = units.find((u) => u.level === 0) || units.find((u) => u.level === 1);
  addUser('analyst', 'test-analyst', [analystScope || county.code]);
  addUser('leader', 'test-leader', [leaderScope || county.code]);
  if (chiefGrid) addUser('chief', 'test-chief', [chiefGrid]);
  let log = '';
  const proc = spawn(BIN, ['serve', '--data', data, '--addr', `127.0.0.1:${port}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The front end the binary embeds, as shipped (no `[server] web` or vendor mounts).
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...env },
  });
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  try {
    // The port answers at once; /readyz turns 200 once grids and events are loaded.
    await waitHttp(`${base}/readyz`, 600000, proc);
  } catch (e) {
    proc.kill();
    throw new Error(`${e.message}\n${log}`);
  }
  return {
    base, proc, dataDir: data, users, log: () => log,
    stop: () => {
      proc.kill();
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Calls the API with a fresh login; returns {status, body}. */
export async function apiAs(base, user, pathAndQuery) {
  const r = await fetch(`${base}/api/v1/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: user.username, password: user.password }),
  });
  const { token } = await r.json();
  const res = await fetch(`${base}/api/v1${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}` } });
  let body = null;
  try { body = await res.json(); } catch { /* empty */ }
  return { status: res.status, body };
}
