/** A config that cannot boot. Printed one line per problem, never with a stack. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Any boot-time error that names its culprits and should print without a stack. */
export class BootError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot boot:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'BootError';
  }
}
