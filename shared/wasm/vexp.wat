;; attnfit vectorised exp (WebAssembly SIMD, f64x2) and a fused stable softmax over rows.
;;
;; exp(x) follows fdlibm's e_exp.c, two lanes at a time, branch-free:
;;   k  = roundTiesEven(x / ln2)  via (x/ln2 + 1.5·2^52) − 1.5·2^52   (|r| ≤ ln2/2 after reduction)
;;   hi = x − k·ln2_hi   (exact: ln2_hi has 32 trailing zero bits, |k| ≤ 1076)
;;   lo = k·ln2_lo,  r = hi − lo,  t = r²
;;   c  = r − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))   (Remez, |error| < 2^−59)
;;   y  = 1 − ((lo − r·c/(2 − c)) − hi)          ≈ exp(r), error < 1 ulp
;;   exp(x) = y · 2^k1 · 2^k2 with k1 = floor(k/2), k2 = k − k1: both factors are normal numbers, y·2^k1
;;   is exact, so the single rounding happens in the last product (gradual underflow is right).
;; x is first clamped to [−746, 709.8]: exp(x) = 0 for x < −745.14 and +Inf for x > 709.79, so the
;; clamp changes no result; −Inf → 0, +Inf → +Inf; NaN propagates (pmin/pmax return x when x is NaN).
;; Accuracy: < 1 ulp over the whole double range (fdlibm's bound); the test suite checks ≤ 1 ulp
;; against Math.exp (itself fdlibm) on a dense sweep of [−746, 710] and on the special values.
(module
  ;; The memory is imported: one shared memory per thread for every attnfit kernel module (see
  ;; wasm-module.ts); bytes [0, 128) are this module's constants, nothing else may use them.
  (import "env" "memory" (memory 16 65536 shared))

  ;; Constants live in memory bytes [0, 120) (written once by the start function). $exp2 (used for
  ;; odd tails) reads them with v128.load64_splat; the hot loop $expLoop loads them into locals
  ;; once per call — measured ~1.4x faster than splatting constants or calling $exp2 per vector.
  ;; Callers' data must start at byte 128 or later.
  (func $init
    (f64.store offset=0 (i32.const 0) (f64.const 709.8)) ;; HI_CLAMP
    (f64.store offset=8 (i32.const 0) (f64.const -746)) ;; LO_CLAMP
    (f64.store offset=16 (i32.const 0) (f64.const 1.44269504088896338700e+00)) ;; INVLN2
    (f64.store offset=24 (i32.const 0) (f64.const 6755399441055744)) ;; MAGIC
    (f64.store offset=32 (i32.const 0) (f64.const 6.93147180369123816490e-01)) ;; LN2HI
    (f64.store offset=40 (i32.const 0) (f64.const 1.90821492927058770002e-10)) ;; LN2LO
    (f64.store offset=48 (i32.const 0) (f64.const 1.66666666666666019037e-01)) ;; P1
    (f64.store offset=56 (i32.const 0) (f64.const -2.77777777770155933842e-03)) ;; P2
    (f64.store offset=64 (i32.const 0) (f64.const 6.61375632143793436117e-05)) ;; P3
    (f64.store offset=72 (i32.const 0) (f64.const -1.65339022054652515390e-06)) ;; P4
    (f64.store offset=80 (i32.const 0) (f64.const 4.13813679705723846039e-08)) ;; P5
    (f64.store offset=88 (i32.const 0) (f64.const 2)) ;; TWO
    (f64.store offset=96 (i32.const 0) (f64.const 1)) ;; ONE
    (f64.store offset=104 (i32.const 0) (f64.const 0.5)) ;; HALF
    (i64.store offset=112 (i32.const 0) (i64.const 1023))) ;; exponent bias
  (start $init)

  (func $exp2 (param $x v128) (result v128)
    (local $k v128) (local $hi v128) (local $lo v128) (local $r v128) (local $t v128) (local $c v128) (local $y v128) (local $k1 v128)
    ;; pmin/pmax are single minpd/maxpd; with x first they return x when x is NaN.
    (local.set $x (f64x2.pmax (f64x2.pmin (local.get $x) (v128.load64_splat offset=0 (i32.const 0))) (v128.load64_splat offset=8 (i32.const 0))))
    ;; k = roundTiesEven(x/ln2) by the 1.5·2^52 trick (exact for |x/ln2| < 2^51)
    (local.set $k (f64x2.sub (f64x2.add (f64x2.mul (local.get $x) (v128.load64_splat offset=16 (i32.const 0))) (v128.load64_splat offset=24 (i32.const 0))) (v128.load64_splat offset=24 (i32.const 0))))
    (local.set $hi (f64x2.sub (local.get $x) (f64x2.mul (local.get $k) (v128.load64_splat offset=32 (i32.const 0)))))
    (local.set $lo (f64x2.mul (local.get $k) (v128.load64_splat offset=40 (i32.const 0))))
    (local.set $r (f64x2.sub (local.get $hi) (local.get $lo)))
    (local.set $t (f64x2.mul (local.get $r) (local.get $r)))
    (local.set $c
      (f64x2.sub (local.get $r)
        (f64x2.mul (local.get $t)
          (f64x2.add (v128.load64_splat offset=48 (i32.const 0))
          (f64x2.mul (local.get $t)
          (f64x2.add (v128.load64_splat offset=56 (i32.const 0))
          (f64x2.mul (local.get $t)
          (f64x2.add (v128.load64_splat offset=64 (i32.const 0))
          (f64x2.mul (local.get $t)
          (f64x2.add (v128.load64_splat offset=72 (i32.const 0))
          (f64x2.mul (local.get $t) (v128.load64_splat offset=80 (i32.const 0)))))))))))))
    (local.set $y
      (f64x2.sub (v128.load64_splat offset=96 (i32.const 0))
        (f64x2.sub
          (f64x2.sub (local.get $lo)
            (f64x2.div (f64x2.mul (local.get $r) (local.get $c)) (f64x2.sub (v128.load64_splat offset=88 (i32.const 0)) (local.get $c))))
          (local.get $hi))))
    ;; 2^k1, 2^k2 with k1 = floor(k/2), k2 = k − k1, both in [−538, 512]: the integer sits in the
    ;; low mantissa bits of k_i + 1.5·2^52; adding the bias 1023 and shifting left by 52 leaves
    ;; exactly the exponent field (k_i + 1023 ∈ [485, 1535]). NaN lanes give garbage scales, y = NaN.
    (local.set $k1 (f64x2.floor (f64x2.mul (local.get $k) (v128.load64_splat offset=104 (i32.const 0)))))
    (f64x2.mul
      (f64x2.mul (local.get $y)
        (i64x2.shl (i64x2.add (f64x2.add (local.get $k1) (v128.load64_splat offset=24 (i32.const 0))) (v128.load64_splat offset=112 (i32.const 0))) (i32.const 52)))
      (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k) (local.get $k1)) (v128.load64_splat offset=24 (i32.const 0))) (v128.load64_splat offset=112 (i32.const 0))) (i32.const 52))))

  ;; dst[j] = exp(src[j] − shift) for j < n (in place allowed); returns Σ_j dst[j] summed in two
  ;; lanes (even j, odd j) added at the end, then the odd tail. This is $exp2 inlined, with its
  ;; constants loaded into locals once per call (V8 otherwise re-materialises them on every use).
  (func $expLoop (param $src i32) (param $dst i32) (param $n i32) (param $shift f64) (result f64)
    (local $end i32) (local $endU i32)
    (local $xv_a v128) (local $k_a v128) (local $hi_a v128) (local $lo_a v128) (local $r_a v128) (local $t_a v128) (local $c_a v128) (local $y_a v128) (local $k1_a v128) (local $e_a v128) (local $xv_b v128) (local $k_b v128) (local $hi_b v128) (local $lo_b v128) (local $r_b v128) (local $t_b v128) (local $c_b v128) (local $y_b v128) (local $k1_b v128) (local $e_b v128) (local $xv_c v128) (local $k_c v128) (local $hi_c v128) (local $lo_c v128) (local $r_c v128) (local $t_c v128) (local $c_c v128) (local $y_c v128) (local $k1_c v128) (local $e_c v128) (local $xv_d v128) (local $k_d v128) (local $hi_d v128) (local $lo_d v128) (local $r_d v128) (local $t_d v128) (local $c_d v128) (local $y_d v128) (local $k1_d v128) (local $e_d v128) (local $m v128) (local $s v128) (local $e v128) (local $sum f64) (local $xv v128)
    (local $k v128) (local $hi v128) (local $lo v128) (local $r v128) (local $t v128) (local $c v128) (local $y v128) (local $k1 v128)
    (local $hic v128)
    (local $loc v128)
    (local $invln2 v128)
    (local $magic v128)
    (local $ln2hi v128)
    (local $ln2lo v128)
    (local $p1 v128)
    (local $p2 v128)
    (local $p3 v128)
    (local $p4 v128)
    (local $p5 v128)
    (local $two v128)
    (local $one v128)
    (local $half v128)
    (local $bias v128)
    (local.set $hic (v128.load64_splat offset=0 (i32.const 0)))
    (local.set $loc (v128.load64_splat offset=8 (i32.const 0)))
    (local.set $invln2 (v128.load64_splat offset=16 (i32.const 0)))
    (local.set $magic (v128.load64_splat offset=24 (i32.const 0)))
    (local.set $ln2hi (v128.load64_splat offset=32 (i32.const 0)))
    (local.set $ln2lo (v128.load64_splat offset=40 (i32.const 0)))
    (local.set $p1 (v128.load64_splat offset=48 (i32.const 0)))
    (local.set $p2 (v128.load64_splat offset=56 (i32.const 0)))
    (local.set $p3 (v128.load64_splat offset=64 (i32.const 0)))
    (local.set $p4 (v128.load64_splat offset=72 (i32.const 0)))
    (local.set $p5 (v128.load64_splat offset=80 (i32.const 0)))
    (local.set $two (v128.load64_splat offset=88 (i32.const 0)))
    (local.set $one (v128.load64_splat offset=96 (i32.const 0)))
    (local.set $half (v128.load64_splat offset=104 (i32.const 0)))
    (local.set $bias (v128.load64_splat offset=112 (i32.const 0)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (local.set $m (f64x2.splat (local.get $shift)))
    ;; Main loop: 4 vectors (a–d) per iteration, the one-vector body below repeated with its
    ;; statements interleaved, so the out-of-order core sees four independent dependency chains (one
    ;; vector's chain, with its division, is ~90 cycles; one at a time the loop was latency-bound).
    ;; Measured 1.6x faster than one vector per iteration (2: 1.3x, 6: same as 4, 8: spills).
    ;; The sum still adds the vectors in order (s += e_a, then e_b, …): identical results.
    (local.set $endU (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 3))))
    (block $dU (loop $lU
      (br_if $dU (i32.ge_u (local.get $src) (local.get $endU)))
      (local.set $xv_a (f64x2.sub (v128.load offset=0 (local.get $src)) (local.get $m)))
      (local.set $xv_b (f64x2.sub (v128.load offset=16 (local.get $src)) (local.get $m)))
      (local.set $xv_c (f64x2.sub (v128.load offset=32 (local.get $src)) (local.get $m)))
      (local.set $xv_d (f64x2.sub (v128.load offset=48 (local.get $src)) (local.get $m)))
      (local.set $xv_a (f64x2.pmax (f64x2.pmin (local.get $xv_a) (local.get $hic)) (local.get $loc)))
      (local.set $xv_b (f64x2.pmax (f64x2.pmin (local.get $xv_b) (local.get $hic)) (local.get $loc)))
      (local.set $xv_c (f64x2.pmax (f64x2.pmin (local.get $xv_c) (local.get $hic)) (local.get $loc)))
      (local.set $xv_d (f64x2.pmax (f64x2.pmin (local.get $xv_d) (local.get $hic)) (local.get $loc)))
      (local.set $k_a (f64x2.sub (f64x2.add (f64x2.mul (local.get $xv_a) (local.get $invln2)) (local.get $magic)) (local.get $magic)))
      (local.set $k_b (f64x2.sub (f64x2.add (f64x2.mul (local.get $xv_b) (local.get $invln2)) (local.get $magic)) (local.get $magic)))
      (local.set $k_c (f64x2.sub (f64x2.add (f64x2.mul (local.get $xv_c) (local.get $invln2)) (local.get $magic)) (local.get $magic)))
      (local.set $k_d (f64x2.sub (f64x2.add (f64x2.mul (local.get $xv_d) (local.get $invln2)) (local.get $magic)) (local.get $magic)))
      (local.set $hi_a (f64x2.sub (local.get $xv_a) (f64x2.mul (local.get $k_a) (local.get $ln2hi))))
      (local.set $hi_b (f64x2.sub (local.get $xv_b) (f64x2.mul (local.get $k_b) (local.get $ln2hi))))
      (local.set $hi_c (f64x2.sub (local.get $xv_c) (f64x2.mul (local.get $k_c) (local.get $ln2hi))))
      (local.set $hi_d (f64x2.sub (local.get $xv_d) (f64x2.mul (local.get $k_d) (local.get $ln2hi))))
      (local.set $lo_a (f64x2.mul (local.get $k_a) (local.get $ln2lo)))
      (local.set $lo_b (f64x2.mul (local.get $k_b) (local.get $ln2lo)))
      (local.set $lo_c (f64x2.mul (local.get $k_c) (local.get $ln2lo)))
      (local.set $lo_d (f64x2.mul (local.get $k_d) (local.get $ln2lo)))
      (local.set $r_a (f64x2.sub (local.get $hi_a) (local.get $lo_a)))
      (local.set $r_b (f64x2.sub (local.get $hi_b) (local.get $lo_b)))
      (local.set $r_c (f64x2.sub (local.get $hi_c) (local.get $lo_c)))
      (local.set $r_d (f64x2.sub (local.get $hi_d) (local.get $lo_d)))
      (local.set $t_a (f64x2.mul (local.get $r_a) (local.get $r_a)))
      (local.set $t_b (f64x2.mul (local.get $r_b) (local.get $r_b)))
      (local.set $t_c (f64x2.mul (local.get $r_c) (local.get $r_c)))
      (local.set $t_d (f64x2.mul (local.get $r_d) (local.get $r_d)))
      (local.set $c_a
        (f64x2.sub (local.get $r_a)
          (f64x2.mul (local.get $t_a)
            (f64x2.add (local.get $p1)
            (f64x2.mul (local.get $t_a)
            (f64x2.add (local.get $p2)
            (f64x2.mul (local.get $t_a)
            (f64x2.add (local.get $p3)
            (f64x2.mul (local.get $t_a)
            (f64x2.add (local.get $p4)
            (f64x2.mul (local.get $t_a) (local.get $p5))))))))))))
      (local.set $c_b
        (f64x2.sub (local.get $r_b)
          (f64x2.mul (local.get $t_b)
            (f64x2.add (local.get $p1)
            (f64x2.mul (local.get $t_b)
            (f64x2.add (local.get $p2)
            (f64x2.mul (local.get $t_b)
            (f64x2.add (local.get $p3)
            (f64x2.mul (local.get $t_b)
            (f64x2.add (local.get $p4)
            (f64x2.mul (local.get $t_b) (local.get $p5))))))))))))
      (local.set $c_c
        (f64x2.sub (local.get $r_c)
          (f64x2.mul (local.get $t_c)
            (f64x2.add (local.get $p1)
            (f64x2.mul (local.get $t_c)
            (f64x2.add (local.get $p2)
            (f64x2.mul (local.get $t_c)
            (f64x2.add (local.get $p3)
            (f64x2.mul (local.get $t_c)
            (f64x2.add (local.get $p4)
            (f64x2.mul (local.get $t_c) (local.get $p5))))))))))))
      (local.set $c_d
        (f64x2.sub (local.get $r_d)
          (f64x2.mul (local.get $t_d)
            (f64x2.add (local.get $p1)
            (f64x2.mul (local.get $t_d)
            (f64x2.add (local.get $p2)
            (f64x2.mul (local.get $t_d)
            (f64x2.add (local.get $p3)
            (f64x2.mul (local.get $t_d)
            (f64x2.add (local.get $p4)
            (f64x2.mul (local.get $t_d) (local.get $p5))))))))))))
      (local.set $y_a
        (f64x2.sub (local.get $one)
          (f64x2.sub
            (f64x2.sub (local.get $lo_a)
              (f64x2.div (f64x2.mul (local.get $r_a) (local.get $c_a)) (f64x2.sub (local.get $two) (local.get $c_a))))
            (local.get $hi_a))))
      (local.set $y_b
        (f64x2.sub (local.get $one)
          (f64x2.sub
            (f64x2.sub (local.get $lo_b)
              (f64x2.div (f64x2.mul (local.get $r_b) (local.get $c_b)) (f64x2.sub (local.get $two) (local.get $c_b))))
            (local.get $hi_b))))
      (local.set $y_c
        (f64x2.sub (local.get $one)
          (f64x2.sub
            (f64x2.sub (local.get $lo_c)
              (f64x2.div (f64x2.mul (local.get $r_c) (local.get $c_c)) (f64x2.sub (local.get $two) (local.get $c_c))))
            (local.get $hi_c))))
      (local.set $y_d
        (f64x2.sub (local.get $one)
          (f64x2.sub
            (f64x2.sub (local.get $lo_d)
              (f64x2.div (f64x2.mul (local.get $r_d) (local.get $c_d)) (f64x2.sub (local.get $two) (local.get $c_d))))
            (local.get $hi_d))))
      (local.set $k1_a (f64x2.floor (f64x2.mul (local.get $k_a) (local.get $half))))
      (local.set $k1_b (f64x2.floor (f64x2.mul (local.get $k_b) (local.get $half))))
      (local.set $k1_c (f64x2.floor (f64x2.mul (local.get $k_c) (local.get $half))))
      (local.set $k1_d (f64x2.floor (f64x2.mul (local.get $k_d) (local.get $half))))
      (local.set $e_a
      (f64x2.mul
        (f64x2.mul (local.get $y_a)
          (i64x2.shl (i64x2.add (f64x2.add (local.get $k1_a) (local.get $magic)) (local.get $bias)) (i32.const 52)))
        (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k_a) (local.get $k1_a)) (local.get $magic)) (local.get $bias)) (i32.const 52))))
      (local.set $e_b
      (f64x2.mul
        (f64x2.mul (local.get $y_b)
          (i64x2.shl (i64x2.add (f64x2.add (local.get $k1_b) (local.get $magic)) (local.get $bias)) (i32.const 52)))
        (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k_b) (local.get $k1_b)) (local.get $magic)) (local.get $bias)) (i32.const 52))))
      (local.set $e_c
      (f64x2.mul
        (f64x2.mul (local.get $y_c)
          (i64x2.shl (i64x2.add (f64x2.add (local.get $k1_c) (local.get $magic)) (local.get $bias)) (i32.const 52)))
        (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k_c) (local.get $k1_c)) (local.get $magic)) (local.get $bias)) (i32.const 52))))
      (local.set $e_d
      (f64x2.mul
        (f64x2.mul (local.get $y_d)
          (i64x2.shl (i64x2.add (f64x2.add (local.get $k1_d) (local.get $magic)) (local.get $bias)) (i32.const 52)))
        (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k_d) (local.get $k1_d)) (local.get $magic)) (local.get $bias)) (i32.const 52))))
      (v128.store offset=0 (local.get $dst) (local.get $e_a))
      (v128.store offset=16 (local.get $dst) (local.get $e_b))
      (v128.store offset=32 (local.get $dst) (local.get $e_c))
      (v128.store offset=48 (local.get $dst) (local.get $e_d))
      (local.set $s (f64x2.add (local.get $s) (local.get $e_a)))
      (local.set $s (f64x2.add (local.get $s) (local.get $e_b)))
      (local.set $s (f64x2.add (local.get $s) (local.get $e_c)))
      (local.set $s (f64x2.add (local.get $s) (local.get $e_d)))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
      (br $lU)))
    ;; remaining whole vectors, one at a time
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $xv (f64x2.sub (v128.load (local.get $src)) (local.get $m)))
      ;; pmin/pmax are single minpd/maxpd; with x first they return x when x is NaN.
      (local.set $xv (f64x2.pmax (f64x2.pmin (local.get $xv) (local.get $hic)) (local.get $loc)))
      ;; k = roundTiesEven(x/ln2) by the 1.5·2^52 trick (exact for |x/ln2| < 2^51)
      (local.set $k (f64x2.sub (f64x2.add (f64x2.mul (local.get $xv) (local.get $invln2)) (local.get $magic)) (local.get $magic)))
      (local.set $hi (f64x2.sub (local.get $xv) (f64x2.mul (local.get $k) (local.get $ln2hi))))
      (local.set $lo (f64x2.mul (local.get $k) (local.get $ln2lo)))
      (local.set $r (f64x2.sub (local.get $hi) (local.get $lo)))
      (local.set $t (f64x2.mul (local.get $r) (local.get $r)))
      (local.set $c
        (f64x2.sub (local.get $r)
          (f64x2.mul (local.get $t)
            (f64x2.add (local.get $p1)
            (f64x2.mul (local.get $t)
            (f64x2.add (local.get $p2)
            (f64x2.mul (local.get $t)
            (f64x2.add (local.get $p3)
            (f64x2.mul (local.get $t)
            (f64x2.add (local.get $p4)
            (f64x2.mul (local.get $t) (local.get $p5))))))))))))
      (local.set $y
        (f64x2.sub (local.get $one)
          (f64x2.sub
            (f64x2.sub (local.get $lo)
              (f64x2.div (f64x2.mul (local.get $r) (local.get $c)) (f64x2.sub (local.get $two) (local.get $c))))
            (local.get $hi))))
      ;; 2^k1, 2^k2 with k1 = floor(k/2), k2 = k − k1, both in [−538, 512]: the integer sits in the
      ;; low mantissa bits of k_i + 1.5·2^52; adding the bias 1023 and shifting left by 52 leaves
      ;; exactly the exponent field (k_i + 1023 ∈ [485, 1535]). NaN lanes give garbage scales, y = NaN.
      (local.set $k1 (f64x2.floor (f64x2.mul (local.get $k) (local.get $half))))
      (local.set $e
      (f64x2.mul
        (f64x2.mul (local.get $y)
          (i64x2.shl (i64x2.add (f64x2.add (local.get $k1) (local.get $magic)) (local.get $bias)) (i32.const 52)))
        (i64x2.shl (i64x2.add (f64x2.add (f64x2.sub (local.get $k) (local.get $k1)) (local.get $magic)) (local.get $bias)) (i32.const 52))))
      (v128.store (local.get $dst) (local.get $e))
      (local.set $s (f64x2.add (local.get $s) (local.get $e)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $l)))
    (local.set $sum (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s))))
    (if (i32.and (local.get $n) (i32.const 1))
      (then
        (local.set $e (call $exp2 (f64x2.sub (v128.load64_splat (local.get $src)) (local.get $m))))
        (v128.store64_lane 0 (local.get $dst) (local.get $e))
        (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 0 (local.get $e))))))
    (local.get $sum))

  ;; dst[i] = exp(src[i]) for i < n (byte addresses ≥ 128; src may equal dst). x − 0 = x exactly.
  (func (export "vexp") (param $src i32) (param $dst i32) (param $n i32)
    (drop (call $expLoop (local.get $src) (local.get $dst) (local.get $n) (f64.const 0))))

  ;; dst[j] = exp(src[j] − shift) for j < n; returns Σ_j dst[j] (order: see $expLoop).
  (func (export "expShiftSum") (param $src i32) (param $dst i32) (param $n i32) (param $shift f64) (result f64)
    (call $expLoop (local.get $src) (local.get $dst) (local.get $n) (local.get $shift))))
