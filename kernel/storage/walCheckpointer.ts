import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MikroORM } from '@mikro-orm/core';

/**
 * SQLite's WAL checkpoints off the event loop. libsql runs every statement synchronously on the
 * event loop; with the default `wal_autocheckpoint` (1,000 pages) the commit that crosses it
 * copies the WAL into the database and syncs the file, inside that commit: on a validated POST
 * /v1/notes about 1 commit in 100 took 5-13 ms (the disk's fsync) while the other 99 took
 * 20-40 µs, and nothing else ran meanwhile. A worker thread with its own connection runs a
 * PASSIVE checkpoint every `everyMs` (it takes no lock a writer waits for); the connections'
 * own automatic checkpoint stays on at a higher bound, so the WAL stays bounded if the worker
 * falls behind or is gone. Trade-off: the WAL file grows to a few MB between checkpoints.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;
const EVERY_MS = 50;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { existsSync } = require('node:fs');
const Database = require(workerData.libsql);
// Never creates the file (libsql would): one removed meanwhile (its ORM closed) stops the worker.
const gone = () => !existsSync(workerData.file);
const db = gone() ? undefined : new Database(workerData.file);
let timer;
const stop = () => { clearInterval(timer); try { db && db.close(); } catch {} parentPort.close(); };
if (!db) stop();
else {
  db.exec('pragma busy_timeout = 1000');
  const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
  timer = setInterval(() => {
    if (gone()) return stop();
    try { checkpoint.all(); } catch { /* busy: the next round, or the writers' own checkpoint */ }
  }, workerData.everyMs);
  parentPort.on('message', stop);
}
`;

/** Starts the checkpointer for the SQLite file at `file`; it stops when `orm` closes. */
export function checkpointInBackground(orm: MikroORM, file: string, everyMs = EVERY_MS): void {
  const libsql = fileURLToPath(import.meta.resolve('libsql'));
  const worker = new Worker(WORKER, { eval: true, workerData: { file, everyMs, libsql } });
  worker.unref();
  worker.on('error', () => { /* the writers' own checkpoint keeps the WAL bounded */ });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const close = orm.close.bind(orm);
  orm.close = async (force?: boolean) => {
    worker.postMessage('stop');
    await close(force);
    // Its own exit, not the process's: a worker terminated at process exit while it still holds libsql objects
    // can abort the process (libsql's binding panics finalizing them with the termination pending).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_WAIT_MS); })]);
    clearTimeout(timer);
  };
}
const STOP_WAIT_MS = 2000;
