// One argon2 worker. It runs at the lowest CPU priority (on Linux setpriority applies to this
// thread only), so while logins hash, the event loop keeps the CPU and the API stays responsive.
import { parentPort } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { hashSync, verifySync } from '@node-rs/argon2';

try { setPriority(0, 19); } catch { /* not permitted: run at normal priority */ }

parentPort.on('message', ({ id, op, password, hash, options }) => {
  try {
    const result = op === 'hash' ? hashSync(password, options) : verifySync(hash, password);
    parentPort.postMessage({ id, result });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.message ?? err) });
  }
});
