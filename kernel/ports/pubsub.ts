/**
 * PubSub port: ephemeral fan-out of text messages to every current subscriber, on every
 * instance. At most once, no history, no consumer groups: a subscriber that is not listening
 * when a message is published never sees it (durable streams keep their own history, e.g.
 * plugins/realtime). Messages from one publisher on one channel arrive in publish order.
 * Adapters: adapters/pubsub/memory.ts, adapters/pubsub/redis.ts.
 * Conformance: test/ports/pubsub.suite.ts.
 */

/** Gets each message and the channel it was published on. Must not throw (a throw is logged and dropped). */
export type PubSubHandler = (message: string, channel: string) => void;

export interface PubSub {
  /** Resolves once the message is handed to the transport (not when it is received). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * `pattern` is a channel name, or a prefix followed by `*` (`job:*`); no other character is special.
   * Resolves once the subscription is live; the function it returns stops it.
   */
  subscribe(pattern: string, handler: PubSubHandler): Promise<() => Promise<void>>;
}

/** Whether `channel` matches `pattern` (exact, or `prefix*`). */
export function matchesPattern(pattern: string, channel: string): boolean {
  return pattern.endsWith('*') ? channel.startsWith(pattern.slice(0, -1)) : channel === pattern;
}

/** Channel names and patterns: 1-200 printable characters; `*` only as the last one of a pattern. */
export function checkChannel(channel: string, pattern = false): void {
  const body = pattern && channel.endsWith('*') ? channel.slice(0, -1) : channel;
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > 200 || /[\s*]/.test(body)) {
    const shown = JSON.stringify(String(channel).slice(0, 50));
    throw new Error(`invalid pubsub ${pattern ? 'pattern' : 'channel'}: ${shown}`);
  }
}
