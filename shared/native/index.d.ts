/** Status of the optional native BLAS GEMM backend in this thread. */
export interface NativeBlasStatus {
  /** The addon file exists and loaded. */ loaded: boolean;
  /** It is the active GEMM backend ('native-blas'). */ active: boolean;
  /** Why it is not loaded / not active ('' otherwise). */ reason: string;
  /** BLAS configuration string (e.g. OpenBLAS build flags). */ config: string;
  /** Its exp kernel (bitwise equal to the WebAssembly one) serves softmax rows in this thread. */ exp: boolean;
}
/** { loaded, active, reason, config } — importing the module registers the addon when built. */
export declare function nativeBlasStatus(): NativeBlasStatus;
