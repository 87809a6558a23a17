import type { Command } from 'commander';

/** Registers the `dynamic` command(s). (Placeholder until implemented.) */
export function register(_program: Command): void {}
