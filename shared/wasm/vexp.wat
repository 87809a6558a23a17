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
  (memory (export "memory") 16)

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
    (local $end i32) (local $m v128) (local $s v128) (local $e v128) (local $sum f64) (local $xv v128)
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
