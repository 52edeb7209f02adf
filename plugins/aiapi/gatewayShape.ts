/** The ai plugin's gateway as this plugin uses it (plugins/ai/api.ts, exported as `aiGateway`). */
import type { AiExports } from '../ai/api.ts';

export type {
  AiGateway, GatewayChatCall, GatewayChatResult, GatewayStreamEvent, GatewayUsage,
} from '../ai/api.ts';
export type GatewayExports = AiExports;
