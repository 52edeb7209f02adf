/**
 * nock for one suite, and only while it runs: uvu imports every test file into one process
 * before running any, and nock patches the global fetch and undici's global dispatcher when it
 * activates. So it is imported on start, the runtime's fetch is kept for the kit's own calls to
 * the kernel on loopback (nock's fetch interceptor cannot resend their bodies on Node 20), and
 * everything is put back on stop. The kernel's egress reaches nock through undici's dispatcher.
 */
import type { Dispatcher } from 'undici';

type Nock = typeof import('nock');
const DISPATCHER = Symbol.for('undici.globalDispatcher.1');

export interface NockSession {
  nock: Nock;
  /** undici's global dispatcher while nock is active: pass it to createUndiciEgress's hooks. */
  dispatcher: Dispatcher;
  stop(): void;
}

export async function startNock(): Promise<NockSession> {
  const globals = globalThis as unknown as Record<symbol, unknown>;
  const savedFetch = globalThis.fetch;
  const savedDispatcher = globals[DISPATCHER];
  const { default: nock } = await import('nock');
  if (!nock.isActive()) nock.activate();
  globalThis.fetch = savedFetch;
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith('127.0.0.1'));
  const { getGlobalDispatcher } = await import('undici');
  return {
    nock,
    dispatcher: getGlobalDispatcher(),
    stop() {
      nock.cleanAll();
      nock.enableNetConnect();
      nock.restore();
      globalThis.fetch = savedFetch;
      if (savedDispatcher === undefined) delete globals[DISPATCHER];
      else globals[DISPATCHER] = savedDispatcher;
    },
  };
}
