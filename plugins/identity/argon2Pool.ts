import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

interface Job {
  id: number;
  op: 'hash' | 'verify';
  password: string;
  hash?: string;
  options?: object;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * argon2id off the event loop, in low-priority worker threads (all cores but one), first in
 * first out. libuv's own pool would run hashes at the event loop's priority and starve it.
 */
export class Argon2Pool {
  private workers: Array<{ worker: Worker; busy?: Job }> = [];
  private queue: Job[] = [];
  private next = 1;

  constructor(private size = Math.max(1, availableParallelism() - 1)) {}

  hash(password: string, options: object): Promise<string> {
    return this.run({ op: 'hash', password, options }) as Promise<string>;
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.run({ op: 'verify', password, hash }) as Promise<boolean>;
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private run(job: Omit<Job, 'id' | 'resolve' | 'reject'>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...job, id: this.next++, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.workers.find((w) => !w.busy);
      if (!slot && this.workers.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.busy = job;
      slot.worker.postMessage({ id: job.id, op: job.op, password: job.password, hash: job.hash, options: job.options });
    }
  }

  private spawn() {
    const worker = new Worker(new URL('./argon2Worker.mjs', import.meta.url));
    worker.unref();
    const slot: { worker: Worker; busy?: Job } = { worker };
    worker.on('message', (msg: { id: number; result?: unknown; error?: string }) => {
      const job = slot.busy;
      slot.busy = undefined;
      if (job) (msg.error === undefined ? job.resolve(msg.result) : job.reject(new Error(msg.error)));
      this.pump();
    });
    worker.on('error', (err) => {
      slot.busy?.reject(err);
      this.workers = this.workers.filter((w) => w !== slot);
      this.pump();
    });
    this.workers.push(slot);
    return slot;
  }
}
