#!/usr/bin/env node
// Wait until a Kafka broker really serves clients (kafkajs admin: connect, listTopics,
// describeCluster), then warm up the group coordinator (so __consumer_offsets exists
// before the first test's consumer joins).
//
//   node scripts/services/wait-kafka.mjs <host:port> [timeoutSeconds=90] [pid]
//
// If pid is given and that process dies while waiting, fail at once.
// Exit 0 when ready, 1 on timeout / death (message on stderr).
import { Kafka, logLevel } from 'kafkajs';

const [broker = '127.0.0.1:19092', timeoutArg = '90', pidArg] = process.argv.slice(2);
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
    console.error(`wait-kafka: broker process ${pid} exited before becoming ready (last error: ${lastError})`);
    process.exit(1);
  }
  const kafka = new Kafka({
    clientId: 'wait-kafka',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    const cluster = await admin.describeCluster();
    if (!cluster.brokers.length) throw new Error('metadata lists no brokers yet');
    // Warm-up: finding a group coordinator makes the broker create __consumer_offsets.
    const warm = new Kafka({
      clientId: 'wait-kafka-warmup',
      brokers: [broker],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 500 },
    }).admin();
    try {
      await warm.connect();
      await warm.describeGroups(['wait-kafka-warmup']);
    } finally {
      await warm.disconnect().catch(() => {});
    }
    await admin.disconnect().catch(() => {});
    process.exit(0);
  } catch (err) {
    lastError = err && err.message ? err.message : String(err);
    await admin.disconnect().catch(() => {});
    await sleep(250);
  }
}
console.error(`wait-kafka: ${broker} not ready after ${timeoutArg}s (last error: ${lastError})`);
process.exit(1);
