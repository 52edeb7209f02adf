import pino from 'pino';
import { systemClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { egressConformance } from './egress.suite.ts';

const context = (logger = pino({ level: 'silent' })): AdapterContext => ({ logger, clock: systemClock, serviceName: 'kernel-test' });

egressConformance('undici', (options) => createUndiciEgress(options, context()));
