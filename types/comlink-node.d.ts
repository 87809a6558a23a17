// One ambient declaration for every package that imports the adapter (coordinator, worker):
// their tsconfig.json include ../types/*.d.ts.
// Types for comlink's Node adapter (the package ships only a .d.ts next to the .mjs, which
// NodeNext resolution does not pick up for a deep .mjs import).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: unknown[]): void;
    on(type: string, listener: (...args: unknown[]) => void): void;
    off(type: string, listener: (...args: unknown[]) => void): void;
    start?: () => void;
  }
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
