/**
 * Allocation in the kernels' shared WebAssembly memory ({@link wasmMemory}): a bump allocator of
 * regions that are never freed (their owners keep and reuse them: the GEMM workspace, the block
 * scratch of the loss), and the test "does this array live in that memory?", which lets the GEMM
 * driver and the exp kernel work on such arrays in place instead of copying them in and out.
 * Offsets are in float64 elements. Bytes [0, 128) hold the exp module's constants and elements
 * [16, 16 + 32768) its copy-in scratch; allocations start above.
 */
import { wasmMemory } from './wasm-module.js';

const PAGE = 65536;
const MAX_BYTES = 2 ** 32;
/** The exp module's copy-in scratch: elements [EXP_SCRATCH_BASE, EXP_SCRATCH_BASE + EXP_SCRATCH_LEN). */
export const EXP_SCRATCH_BASE = 16;
export const EXP_SCRATCH_LEN = 32768;
/** Elements reserved at the bottom of the memory for the exp module (constants, scratch). */
export const WASM_RESERVED_ELEMENTS = EXP_SCRATCH_BASE + EXP_SCRATCH_LEN;

let top = WASM_RESERVED_ELEMENTS;
let view: Float64Array | null = null;
/** Every SharedArrayBuffer object this memory has handed out (one per size it has had). */
const known = new WeakSet<object>();

/** A view of the whole memory as it is now (views taken earlier stay valid, they are just shorter). */
export function wasmView(): Float64Array {
  if (!wasmMemory) throw new Error('wasm memory: WebAssembly kernels are not available');
  const b = wasmMemory.buffer;
  if (!view || view.buffer !== b) {
    view = new Float64Array(b);
    known.add(b);
  }
  return view;
}

/**
 * Reserves `len` elements (64-byte aligned) and returns the element offset of the first; grows
 * the memory as needed. Throws a RangeError starting 'wasm memory:' past the 4 GiB address space
 * or when the memory cannot grow.
 */
export function wasmAlloc(len: number): number {
  if (!wasmMemory) throw new Error('wasm memory: WebAssembly kernels are not available');
  const off = Math.ceil(top / 8) * 8,
    end = off + len,
    need = end * 8;
  if (need > MAX_BYTES) throw new RangeError(`wasm memory: ${need} bytes exceed the 4 GiB WebAssembly address space`);
  const have = wasmMemory.buffer.byteLength;
  if (need > have) {
    try {
      wasmMemory.grow(Math.ceil((need - have) / PAGE));
    } catch (err) {
      throw new RangeError(
        `wasm memory: cannot grow to ${need} bytes (${err instanceof Error ? err.message : String(err)})`,
        { cause: err },
      );
    }
  }
  top = end;
  return off;
}

/**
 * A new `len`-element Float64Array that lives in the kernels' memory (GEMM operands and softmax
 * rows there are used in place), or a plain Float64Array when WebAssembly is unavailable or its
 * 4 GiB address space cannot take it (then the kernels copy, as for any array). The region is
 * never freed: allocate once, reuse, and grow geometrically. Example: `const F = wasmArray(m * n)`.
 */
export function wasmArray(len: number): Float64Array {
  if (!wasmMemory) return new Float64Array(len);
  let off: number;
  try {
    off = wasmAlloc(len);
  } catch (err) {
    if (err instanceof RangeError) return new Float64Array(len); // address space or memory exhausted
    throw err;
  }
  return new Float64Array(wasmView().buffer, off * 8, len);
}

/** Element offset of a[0] in {@link wasmView} when `a` lives in the kernels' memory, else −1. */
export function residentOffset(a: Float64Array): number {
  return known.has(a.buffer) ? a.byteOffset / 8 : -1;
}
