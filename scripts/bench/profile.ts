/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and summarises the samples that fall in
 * given time windows: time per category (kernel/, each npm package, node core, GC...)
 * and per function, self and inclusive. Profile timestamps are CLOCK_MONOTONIC µs,
 * the same clock as process.hrtime in the parent, so windows can be taken there.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionStat {
  /** Function name; anonymous ones say who called them. */
  name: string;
  /** The function's own name (`(anonymous)` when it has none), without the caller. */
  baseName: string;
  /** `kernel/http/app.ts:37` (line in the transpiled module, close to the source line). */
  location: string;
  category: string;
  selfUs: number;
  totalUs: number;
}

export interface ProfileSummary {
  sampledUs: number;
  idleUs: number;
  /** Everything except (idle). */
  busyUs: number;
  categories: Map<string, number>;
  functions: FunctionStat[];
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

const SPECIAL: Record<string, string> = {
  '(idle)': '(idle)',
  '(garbage collector)': 'GC',
  '(program)': '(program: native code, event loop)',
  '(root)': '(root)',
};

export function categorize(frame: CallFrame, root: string): string {
  if (SPECIAL[frame.functionName] && !frame.url) return SPECIAL[frame.functionName];
  const url = frame.url;
  if (!url) return 'V8 builtins / eval code (ajv validators)';
  if (url.startsWith('node:')) return 'node core';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const rel = relative(root, path);
  if (rel.startsWith('..')) return 'other';
  if (rel.startsWith('scripts/bench/')) return 'scripts/bench/';
  return `${rel.split('/')[0]}/`;
}

function location(frame: CallFrame, root: string): string {
  if (!frame.url) return '(native)';
  if (frame.url.startsWith('node:')) return `${frame.url}:${frame.lineNumber + 1}`;
  const path = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return `${path.slice(nm + 1)}:${frame.lineNumber + 1}`;
  const shown = relative(root, path);
  // tsx runs a whitespace-minified transpile, so profile lines of .ts files are meaningless:
  // find the function's definition in the source by its name instead.
  if (/\.[cm]?tsx?$/.test(path)) {
    const line = frame.functionName ? definitionLine(path, frame.functionName) : undefined;
    return line ? `${shown}:${line}` : shown;
  }
  return `${shown}:${frame.lineNumber + 1}`;
}

const sources = new Map<string, string[]>();

/** 1-based line where `name` (a function, method, getter or object-literal member) is defined in a source file. */
export function definitionLine(path: string, name: string): number | undefined {
  let lines = sources.get(path);
  if (!lines) {
    try { lines = readFileSync(path, 'utf8').split('\n'); } catch { lines = []; }
    sources.set(path, lines);
  }
  const accessor = /^(get|set) (.+)$/.exec(name);
  const id = (accessor ? accessor[2] : name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const patterns = accessor
    ? [new RegExp(`\\b${accessor[1]}\\s+${id}\\s*\\(`)]
    : [
        new RegExp(`\\bfunction\\*?\\s+${id}\\s*[<(]`),
        new RegExp(`\\b(?:const|let|var)\\s+${id}\\s*(?::[^=]+)?=`),
        new RegExp(`^\\s*(?:(?:public|private|protected|static|async|readonly|override)\\s+)*${id}\\s*[<(]`),
        new RegExp(`(?:^|[\\s{,])['"]?${id}['"]?\\s*:\\s*(?:async\\s*)?(?:\\(|function\\b|[A-Za-z_$][\\w$]*\\s*=>)`),
      ];
  for (const re of patterns) {
    const i = lines.findIndex((l) => re.test(l));
    if (i >= 0) return i + 1;
  }
  return undefined;
}

/** Sums the profile's samples inside `windows` ([startUs, endUs] pairs). */
export function summarizeProfile(profile: CpuProfile, windows: Array<[number, number]>, root: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Anonymous functions (delegates' getters, arrow callbacks) are told apart by their caller.
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    const own = `${f.functionName}|${f.url}|${f.lineNumber}|${f.columnNumber}`;
    if (f.functionName || !f.url) return own;
    const caller = parent.has(n.id) ? byId.get(parent.get(n.id)!)!.callFrame : undefined;
    return `${own}<${caller ? `${caller.functionName}|${caller.url}|${caller.lineNumber}|${caller.columnNumber}` : ''}`;
  };

  // Time per node id, for samples that fall inside a window.
  const selfByNode = new Map<number, number>();
  let ts = profile.startTime;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    ts += timeDeltas[i];
    const weight = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    if (weight <= 0) continue;
    if (!windows.some(([a, b]) => ts >= a && ts <= b)) continue;
    selfByNode.set(samples[i], (selfByNode.get(samples[i]) ?? 0) + weight);
  }

  const stats = new Map<string, FunctionStat>();
  const statOf = (n: ProfileNode) => {
    const key = keyOf(n);
    let s = stats.get(key);
    if (!s) {
      const caller = parent.has(n.id) ? byId.get(parent.get(n.id)!)!.callFrame.functionName || '(anonymous)' : '';
      const name =
        n.callFrame.functionName || (caller && n.callFrame.url ? `(anonymous, called from ${caller})` : '(anonymous)');
      s = {
        name,
        baseName: n.callFrame.functionName || '(anonymous)',
        location: location(n.callFrame, root),
        category: categorize(n.callFrame, root),
        selfUs: 0,
        totalUs: 0,
      };
      stats.set(key, s);
    }
    return s;
  };
  const categories = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id)!;
    const own = statOf(node);
    own.selfUs += us;
    sampledUs += us;
    if (own.category === '(idle)') idleUs += us;
    categories.set(own.category, (categories.get(own.category) ?? 0) + us);
    // Inclusive time: once per distinct function on the stack (recursion counted once).
    const seen = new Set<FunctionStat>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const s = statOf(byId.get(cur)!);
      if (!seen.has(s)) { seen.add(s); s.totalUs += us; }
    }
  }
  return { sampledUs, idleUs, busyUs: sampledUs - idleUs, categories, functions: [...stats.values()] };
}
