import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('lifecycle: SIGTERM to `npm start` reaches the server, which drains and exits');

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

s('npm start -- --config FILE: SIGTERM to the npm process stops the server and closes the port', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  const config = join(dir, 'd.yaml');
  writeFileSync(
    config,
    `server: { port: 0, host: 127.0.0.1, shutdownTimeoutMs: 5000 }\ndatabase: { url: "file:${join(dir, 'k.db')}" }\nlog: { level: info }\n`,
  );
  const npm = spawn('npm', ['start', '--silent', '--', '--config', config], {
    cwd: ROOT, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? dir }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout!.on('data', (c: Buffer) => { out += c; });
  npm.stderr!.on('data', (c: Buffer) => { out += c; });
  const npmExited = new Promise<number | null>((r) => npm.on('exit', (code) => r(code)));
  let serverPid = 0;
  try {
    const listening = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(/"pid":(\d+)[^\n]*"port":(\d+)[^\n]*"msg":"listening"/);
        if (m) { npm.stdout!.off('data', check); resolve(m); }
      };
      npm.stdout!.on('data', check);
      npm.once('exit', () => reject(new Error(`npm start exited before listening:\n${out}`)));
    });
    serverPid = Number(listening[1]);
    const base = `http://127.0.0.1:${listening[2]}`;
    assert.is((await fetch(`${base}/health`)).status, 200);
    assert.is.not(serverPid, npm.pid, 'the server is npm\'s child');

    npm.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      npmExited,
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), 15_000);
      }),
    ]);
    clearTimeout(timer);
    assert.is.not(code, 'timeout', `npm did not exit:\n${out}`);
    assert.match(out, /"msg":"shutting down"/, 'the server received the signal');
    assert.match(out, /"msg":"stopped"/, 'and drained');
    assert.not.ok(alive(serverPid), 'the server process is gone');
    const refused = await fetch(`${base}/health`).then(() => 'answered', (e) => (e as Error).name);
    assert.is(refused, 'TypeError', 'the port is closed');
  } finally {
    if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    if (npm.exitCode === null) npm.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
