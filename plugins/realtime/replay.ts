import type { RealtimeEvent } from './api.ts';
import type { Hub } from './hub.ts';
import type { History } from './history.ts';

/** What a replaying subscriber is sent: `reset` for a gap, then events, each once, in cursor order. */
export type Delivery = { kind: 'reset'; channel: string }
  /** `replayed`: from the history (bounded by its limits), not live. */
  | { kind: 'event'; event: RealtimeEvent; replayed: boolean };

/**
 * Live events of `channels` after an optional replay from the history: live ones are held while
 * the replay runs, then sent if newer than the last replayed; afterwards each event goes out once,
 * in cursor order per channel (an event not newer than the channel's last sent one was already sent).
 */
export class ChannelFeed {
  /** The newest cursor sent, per channel (events of different instances interleave across channels). */
  private readonly last = new Map<string, string>();
  private held: RealtimeEvent[] | undefined = [];
  private readonly stops: Array<() => void>;
  private closed = false;

  constructor(
    hub: Hub,
    private readonly history: History,
    private readonly channels: string[],
    private readonly since: string | undefined,
    private readonly send: (d: Delivery) => void,
  ) {
    for (const c of channels) this.last.set(c, since ?? '');
    this.stops = channels.map((c) => hub.listen(c, (e) => this.live(e)));
  }

  /** Runs the replay (if any), then goes live. */
  async start(): Promise<void> {
    if (this.since !== undefined) {
      for (const channel of await this.history.gaps(this.channels, this.since)) {
        if (this.closed) return;
        this.send({ kind: 'reset', channel });
      }
      let after = this.since;
      for (;;) {
        const page = await this.history.after(this.channels, after);
        for (const event of page) this.forward(event, true);
        if (page.length < 500 || this.closed) break;
        after = page[page.length - 1].cursor;
      }
    }
    const held = this.held ?? [];
    this.held = undefined;
    held.sort((a, b) => (a.cursor < b.cursor ? -1 : 1)).forEach((e) => this.forward(e, true));
  }

  stop(): void {
    this.closed = true;
    for (const stop of this.stops) stop();
  }

  private live(event: RealtimeEvent): void {
    if (this.held) this.held.push(event);
    else this.forward(event);
  }

  private forward(event: RealtimeEvent, replayed = false): void {
    const last = this.last.get(event.channel);
    if (this.closed || last === undefined || event.cursor <= last) return;
    this.last.set(event.channel, event.cursor);
    this.send({ kind: 'event', event, replayed });
  }
}
