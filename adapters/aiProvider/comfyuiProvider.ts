/**
 * ComfyUI: images from a workflow (API format). Submit with POST /prompt, follow progress by polling
 * GET /queue and GET /history/{id} (the WebSocket feed would bypass the egress port), fetch the output with
 * GET /view. The workflow's strings `{{prompt}}`, `{{negative_prompt}}`, `{{seed}}`, `{{width}}`, `{{height}}`,
 * `{{model}}` are filled per request (a string that is only a number placeholder becomes a number).
 */
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import { AiError, type AiProvider, type CallOptions, type ImageRequest } from '../../kernel/ports/aiProvider.ts';
import { send } from './shared/http.ts';
import { buildProvider } from './shared/provider.ts';
import { heuristicTokens } from './shared/tokens.ts';
import { baseOf, vendorHttp, type VendorDeps, type VendorOptions } from './shared/vendor.ts';

export interface ComfyUiProviderOptions extends VendorOptions {
  /** An API-format workflow; default a plain SD 1.5 text-to-image graph. */
  workflow?: Record<string, unknown>;
  /** Checkpoint for the default workflow when a request names none. */
  checkpoint?: string;
  steps?: number;
  pollIntervalMs?: number;
  /** Longest wait for one generation. */
  maxWaitMs?: number;
}

export interface ComfyUiHooks {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_WORKFLOW = {
  '3': { class_type: 'KSampler', inputs: {
    seed: '{{seed}}', steps: '{{steps}}', cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1,
    model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: '{{model}}' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: '{{width}}', height: '{{height}}', batch_size: '{{n}}' } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: '{{negative_prompt}}', clip: ['4', 1] } },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'kernel', images: ['8', 0] } },
};

export function fillWorkflow(workflow: unknown, values: Record<string, string | number>): unknown {
  if (typeof workflow === 'string') {
    const whole = /^\{\{(\w+)\}\}$/.exec(workflow);
    if (whole && whole[1] in values) return values[whole[1]];
    return workflow.replace(/\{\{(\w+)\}\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
  }
  if (Array.isArray(workflow)) return workflow.map((v) => fillWorkflow(v, values));
  if (workflow && typeof workflow === 'object') {
    return Object.fromEntries(Object.entries(workflow).map(([k, v]) => [k, fillWorkflow(v, values)]));
  }
  return workflow;
}

interface HistoryEntry {
  status?: { completed?: boolean; status_str?: string; messages?: Array<[string, { exception_message?: string }]> };
  outputs?: Record<string, { images?: Array<{ filename: string; subfolder?: string; type?: string }> }>;
}

const timerSleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

export async function createComfyUiProvider(
  options: ComfyUiProviderOptions, ctx: AdapterContext, deps: VendorDeps & ComfyUiHooks = {},
): Promise<AiProvider> {
  const name = options.name ?? 'comfyui';
  const base = baseOf(options.baseUrl ?? 'http://127.0.0.1:8188');
  const http = vendorHttp(name, { timeoutMs: 30_000, ...options }, ctx, deps);
  const sleep = deps.sleep ?? timerSleep;
  const poll = options.pollIntervalMs ?? 1000;
  const maxWait = options.maxWaitMs ?? 600_000;
  const headers = (o: CallOptions) => ({
    'content-type': 'application/json',
    ...(o.apiKey ?? options.apiKey ? { authorization: `Bearer ${o.apiKey ?? options.apiKey}` } : {}),
    ...options.headers,
  });

  async function image(req: ImageRequest, o: CallOptions = {}) {
    const clientId = `kernel-${ctx.serviceName}`;
    const prompt = fillWorkflow(options.workflow ?? DEFAULT_WORKFLOW, {
      prompt: req.prompt, negative_prompt: req.negativePrompt ?? '', seed: req.seed ?? 0,
      width: req.width ?? 512, height: req.height ?? 512, n: req.n ?? 1, steps: options.steps ?? 20,
      model: req.model === 'default' ? options.checkpoint ?? 'v1-5-pruned-emaonly.safetensors' : req.model,
    });
    const submitted = await send(
      http,
      { url: `${base}/prompt`, headers: headers(o), json: { prompt, client_id: clientId } },
      o,
    );
    const { prompt_id: id, node_errors: nodeErrors } = submitted.json<{ prompt_id: string; node_errors?: object }>();
    if (!id || (nodeErrors && Object.keys(nodeErrors).length)) {
      throw new AiError(
        'bad_request',
        name,
        `ComfyUI refused the workflow: ${JSON.stringify(nodeErrors ?? {}).slice(0, 300)}`,
      );
    }
    req.onProgress?.({ fraction: 0, stage: 'queued' });
    const started = ctx.clock.now();
    for (let waited = 0; ; waited += poll) {
      const history = (await send(http, { url: `${base}/history/${encodeURIComponent(id)}`, method: 'GET',
        headers: headers(o) }, o)).json<Record<string, HistoryEntry>>()[id];
      if (history?.status?.status_str === 'error') {
        const why = history.status.messages?.find((m) => m[0] === 'execution_error')?.[1]?.exception_message;
        throw new AiError('unavailable', name, `ComfyUI failed the generation${why ? `: ${why.slice(0, 200)}` : ''}`);
      }
      if (history?.status?.completed || (history?.outputs && Object.keys(history.outputs).length)) {
        req.onProgress?.({ fraction: 0.9, stage: 'fetching' });
        const files = Object.values(history.outputs ?? {}).flatMap((out) => out.images ?? []);
        const images = await Promise.all(files.map(async (f) => {
          const q = new URLSearchParams({
            filename: f.filename,
            subfolder: f.subfolder ?? '',
            type: f.type ?? 'output',
          });
          const res = await send(http, { url: `${base}/view?${q}`, method: 'GET', headers: headers(o) }, o);
          return { data: new Uint8Array(res.bytes), mimeType: res.headers['content-type'] ?? 'image/png' };
        }));
        req.onProgress?.({ fraction: 1, stage: 'done' });
        return { images, model: req.model };
      }
      const queue = (await send(http, { url: `${base}/queue`, method: 'GET', headers: headers(o) }, o))
        .json<{ queue_running?: unknown[][]; queue_pending?: unknown[][] }>();
      const running = (queue.queue_running ?? []).some((item) => item[1] === id);
      req.onProgress?.({ fraction: running ? 0.5 : 0.1, stage: running ? 'running' : 'queued' });
      if (Math.max(waited, ctx.clock.now() - started) >= maxWait) {
        throw new AiError('timeout', name, `ComfyUI did not finish within ${maxWait} ms`);
      }
      try {
        await sleep(poll, o.signal);
      } catch {
        throw new AiError('aborted', name, 'The ComfyUI generation was cancelled');
      }
    }
  }

  return buildProvider({ name, adapter: 'comfyui', countTokens: heuristicTokens, image });
}
