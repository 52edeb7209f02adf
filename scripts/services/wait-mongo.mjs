#!/usr/bin/env node
// Wait until a MongoDB wire-protocol server accepts connections and answers `ping`.
//
//   node scripts/services/wait-mongo.mjs <mongodb-url> [timeoutSeconds=90] [pid]
//
// If pid is given and that process dies while waiting, fail at once.
// Exit 0 when ready, 1 on timeout / death (message on stderr).
import { MongoClient } from 'mongodb';

const [url = 'mongodb://127.0.0.1:27018', timeoutArg = '90', pidArg] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg) * 1000;
const pid = pidArg ? Number(pidArg) : undefined;

const alive = () => {
  if (!pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let lastError = 'no attempt made';
while (Date.now() < deadline) {
  if (!alive()) {
    console.error(`wait-mongo: server process ${pid} exited before becoming ready (last error: ${lastError})`);
    process.exit(1);
  }
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 1000,
    connectTimeoutMS: 1000,
    directConnection: true,
  });
  try {
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    if (res.ok !== 1) throw new Error(`ping answered ${JSON.stringify(res)}`);
    await client.close().catch(() => {});
    process.exit(0);
  } catch (err) {
    lastError = err && err.message ? err.message : String(err);
    await client.close().catch(() => {});
    await sleep(200);
  }
}
console.error(`wait-mongo: ${url} not ready after ${timeoutArg}s (last error: ${lastError})`);
process.exit(1);
