#!/usr/bin/env python3
"""Train a tiny byte-level attention model and record its attention layer as attnfit problems.

    /usr/bin/python3 bench/train_layer.py --record DIR=N [--record DIR2=N2 ...] [--d 16] [--heads 1]
        [--steps 1500] [--short-steps 600] [--short-context 64] [--context 256] [--batch 16]
        [--lr 0.01] [--seed 1] [--threads 1] [--pos sinusoidal|learned] [--layout split|add]

Benchmark tooling (never a test dependency). Needs PyTorch (Debian python3-torch) and numpy.
The exact commands that made bench/fixtures/layers are in that directory's README.md.

Text: every regular file in /usr/share/common-licenses (symlinks resolved, duplicates dropped,
sorted by name) joined by blank lines, except HELD_OUT (MPL-2.0): the held-out split, never seen
in training. The recorded sequence of length N is its first N bytes (unmasked).

Model (non-causal, one layer, float32 training on CPU):
    x   = E[tok] + P      E: 257 x d (256 bytes + [MASK]); P: sinusoidal positions. Layout
                          "split" (default): E lives in the first d/2 coordinates, P (sinusoidal
                          of dimension d/2) in the last d/2 — a local head then forms quickly
    a   = LN1(x)          (elementwise affine)
    att = sum_h softmax(a Wq_h (a Wk_h)^T / sqrt(dh)) a Wv_h Wo_h     no biases, no mask
    h   = x + att
    out = h + MLP(LN2(h)) MLP: d -> 4d -> d, GELU
    logits = LNf(out) U   U: d x 256 (+ bias)
Objective: masked-byte denoising — 15 % of the bytes replaced by [MASK], cross-entropy on those.
Training: Adam, 100-step warm-up then cosine decay; a curriculum of --short-steps steps on
sequences of --short-context bytes (same bytes per step), then --context; each training
sequence sits at a random position offset so that every position up to max(N, --context) is seen.

Recorded per --record DIR=N (float64 .npy, C order), for the held-out sequence:
    A1 = A2 = A3 = a = LN1(x)   recomputed in float64 from the float64-cast weights
    B = att                      recomputed in float64 the model's way (per-head q, k, v, then Wo)
single head: X_true = Wq Wk^T / sqrt(dh), Y_true = Wv Wo, so L(X_true, Y_true) is rounding only
             (~1e-30 relative; larger, ~1e-29, when the logits are large)
multi-head:  X_heads.npy, Y_heads.npy (heads x d x d); no exact single-head fit exists
problem.json: model, training (loss curve summary, seed), text source (sha256s), and checks:
relative loss of the truth, logit spread (std of A1 X A2^T) and attention entropy per head.
One JSON summary line per recorded problem goes to stdout.

Deterministic for a given --seed and --threads (torch.use_deterministic_algorithms; float32
reductions may differ with the thread count).
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn

LICENSES = "/usr/share/common-licenses"
HELD_OUT = "MPL-2.0"
MASK = 256
MASK_RATE = 0.15


def load_text():
    seen, train, files = set(), [], []
    held = None
    for name in sorted(os.listdir(LICENSES)):
        path = os.path.realpath(os.path.join(LICENSES, name))
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        data = open(path, "rb").read()
        if os.path.basename(path) == HELD_OUT:
            held = data
        else:
            train.append(data)
            files.append(os.path.basename(path))
    if held is None:
        sys.exit(f"train_layer.py: {LICENSES}/{HELD_OUT} not found (held-out split)")
    text = b"\n\n".join(train)
    return np.frombuffer(text, dtype=np.uint8).astype(np.int64), np.frombuffer(held, dtype=np.uint8).astype(np.int64), files


def sinusoidal(n, d, base=10000.0):
    pos = np.arange(n)[:, None]
    i = np.arange(d // 2)[None, :]
    ang = pos / np.power(base, 2 * i / d)
    P = np.zeros((n, d))
    P[:, 0::2], P[:, 1::2] = np.sin(ang), np.cos(ang)
    return P


class Layer(nn.Module):
    def __init__(self, d, heads, max_len, pos, pos_scale, split, pos_base):
        super().__init__()
        self.d, self.heads, self.dh = d, heads, d // heads
        self.embed = nn.Embedding(257, d)
        P = pos_scale * sinusoidal(max_len, d, pos_base)
        if split:  # tokens in the first d/2 coordinates, positions (sinusoidal of dimension d/2) in the rest
            P = np.concatenate([np.zeros((max_len, d // 2)), pos_scale * sinusoidal(max_len, d - d // 2, pos_base)], axis=1)
            emask = torch.ones(257, d)
            emask[:, d // 2:] = 0
            self.register_buffer("emask", emask)
        else:
            self.register_buffer("emask", torch.ones(257, d))
        if pos == "learned":
            self.pos = nn.Parameter(torch.tensor(P, dtype=torch.float32))  # sinusoidal init
        else:
            self.register_buffer("pos", torch.tensor(P, dtype=torch.float32))
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.unembed = nn.Linear(d, 256)

    def token_embedding(self):
        return self.embed.weight * self.emask

    def attention(self, a):
        T = a.shape[1]
        q = self.wq(a).view(-1, T, self.heads, self.dh).transpose(1, 2)
        k = self.wk(a).view(-1, T, self.heads, self.dh).transpose(1, 2)
        v = self.wv(a).view(-1, T, self.heads, self.dh).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(-1, T, self.d)
        return self.wo(o), p

    def forward(self, tokens, offsets=None):
        T = tokens.shape[1]
        e = Fn.embedding(tokens, self.token_embedding())
        if offsets is None:
            x = e + self.pos[:T]
        else:  # sequence b uses positions offsets[b] .. offsets[b] + T - 1
            x = e + self.pos[offsets[:, None] + torch.arange(T)[None, :]]
        a = self.ln1(x)
        att, p = self.attention(a)
        h = x + att
        out = h + self.mlp(self.ln2(h))
        return self.unembed(self.lnf(out)), x, a, att, p


def layer_norm64(x, ln):
    w, b = ln.weight.detach().double().numpy(), ln.bias.detach().double().numpy()
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * w + b


def softmax_rows(S):
    S = S - S.max(axis=1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=1, keepdims=True)


def head_matrices(model):
    """Per head: X_h = Wq_h Wk_h^T / sqrt(dh), Y_h = Wv_h Wo_h (float64; rows act on a from the right)."""
    d, dh = model.d, model.dh
    # nn.Linear computes a W^T: the d x d matrix acting on row vectors is weight.T.
    Wq, Wk, Wv, Wo = (m.weight.detach().double().numpy().T for m in (model.wq, model.wk, model.wv, model.wo))
    Xs, Ys = [], []
    for h in range(model.heads):
        s = slice(h * dh, (h + 1) * dh)
        Xs.append(Wq[:, s] @ Wk[:, s].T / math.sqrt(dh))
        Ys.append(Wv[:, s] @ Wo[s, :])
    return np.stack(Xs), np.stack(Ys)


def model_attention64(model, a):
    """The layer's attention output in float64, computed the model's way: per head
    softmax((a Wq_h)(a Wk_h)^T / sqrt(dh)) (a Wv_h), heads concatenated, times Wo."""
    dh = model.dh
    Wq, Wk, Wv, Wo = (m.weight.detach().double().numpy().T for m in (model.wq, model.wk, model.wv, model.wo))
    q, k, v = a @ Wq, a @ Wk, a @ Wv
    o = np.zeros_like(a)
    for h in range(model.heads):
        s = slice(h * dh, (h + 1) * dh)
        o[:, s] = softmax_rows(q[:, s] @ k[:, s].T / math.sqrt(dh)) @ v[:, s]
    return o @ Wo


def masked_batch(data, batch, context, max_len, gen):
    starts = torch.randint(0, len(data) - context, (batch,), generator=gen)
    offsets = torch.randint(0, max_len - context + 1, (batch,), generator=gen)
    idx = starts[:, None] + torch.arange(context)[None, :]
    target = data[idx]
    mask = torch.rand(batch, context, generator=gen) < MASK_RATE
    tokens = torch.where(mask, torch.full_like(target, MASK), target)
    return tokens, target, mask, offsets


def record(model, args, held_np, n, out, meta):
    """Write the problem for the first n held-out bytes into out; returns the summary line."""
    with torch.no_grad():
        seq = torch.from_numpy(held_np[:n])[None, :]
        att32 = model(seq)[3][0].double().numpy()  # the float32 forward, for the check below
    # float64 recomputation from the float64-cast weights (exact for X_true, Y_true).
    E = model.token_embedding().detach().double().numpy()
    P = model.pos.detach().double().numpy()[:n]
    A = layer_norm64(E[held_np[:n]] + P, model.ln1)
    Xs, Ys = head_matrices(model)
    B = model_attention64(model, A)
    b2 = float((B * B).sum())
    stats = []
    for h in range(model.heads):
        S = A @ Xs[h] @ A.T
        F = softmax_rows(S)
        ent = -(F * np.log(np.maximum(F, 1e-300))).sum(axis=1)
        # This head alone with the best Y for its X (variable projection): what one head explains.
        M = F @ A
        Yh = np.linalg.lstsq(M, B, rcond=None)[0]
        R = M @ Yh - B
        stats.append({"head": h, "logitStd": float(S.std()), "logitRowStdMean": float(S.std(axis=1).mean()),
                      "entropyMean": float(ent.mean()), "entropyMedian": float(np.median(ent)),
                      "maxProbMean": float(F.max(axis=1).mean()), "uniformEntropy": math.log(n),
                      "relLossThisHeadAlone": float((R * R).sum() / b2)})
    single = model.heads == 1
    rel_truth = None
    if single:
        R = softmax_rows(A @ Xs[0] @ A.T) @ (A @ Ys[0]) - B
        rel_truth = float((R * R).sum() / b2)
    os.makedirs(out, exist_ok=True)
    files = {"A1.npy": A, "A2.npy": A, "A3.npy": A, "B.npy": B}
    if single:
        files.update({"X_true.npy": Xs[0], "Y_true.npy": Ys[0]})
    else:
        files.update({"X_heads.npy": Xs, "Y_heads.npy": Ys})
    for name, arr in files.items():
        np.save(os.path.join(out, name), np.ascontiguousarray(arr, dtype=np.float64))
    info = {
        "kind": "trained-layer", "n": n, "d": model.d, "heads": model.heads, "dHead": model.dh, "exactFit": single,
        "files": list(files),
        "model": ("byte-level, non-causal, 1 layer: x = E[tok] + P (sinusoidal positions"
                  + ("; E in the first d/2 coordinates, P in the last d/2" if args.layout == "split" else "") + "); a = LN1(x); "
                  "att = sum_h softmax(a Wq_h (a Wk_h)^T/sqrt(dh)) a Wv_h Wo_h (no biases, no mask); "
                  "h = x + att; out = h + MLP(LN2(h)) (d->4d->d, GELU); logits = LNf(out) U (input vocabulary: 256 bytes + [MASK])"),
        "recorded": "A1 = A2 = A3 = LN1(x), B = att (after Wo, before the residual), both recomputed in float64 from the float64-cast weights; "
                    + ("X_true = Wq Wk^T/sqrt(dh), Y_true = Wv Wo" if single
                       else "X_heads[h] = Wq_h Wk_h^T/sqrt(dh), Y_heads[h] = Wv_h Wo_h; B = sum over heads (no exact single-head fit)"),
        **meta,
        "text": {**meta["text"], "recordedSequence": f"bytes [0, {n}) of {HELD_OUT}, unmasked"},
        "checks": {"relLossTruth": rel_truth, "relDiffFloat32Forward": float(((att32 - B) ** 2).sum() / b2),
                   "bNormSq": b2, "heads": stats},
    }
    with open(os.path.join(out, "problem.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    r4 = lambda v: float(f"{v:.4g}") if isinstance(v, float) else v
    return {"out": out, "n": n, "d": model.d, "heads": model.heads, "relLossTruth": rel_truth,
            "relDiffFloat32Forward": r4(info["checks"]["relDiffFloat32Forward"]),
            "trainLossLast": r4(meta["training"]["lossLast"]), "heldOutLoss": r4(meta["training"]["heldOutLoss"]),
            "trainSeconds": meta["training"]["seconds"], "heads_stats": [{k: r4(v) for k, v in st.items()} for st in stats]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="append", required=True, metavar="DIR=N",
                    help="write the problem for the first N held-out bytes into DIR (repeatable)")
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--context", type=int, default=256, help="training sequence length (after the curriculum)")
    ap.add_argument("--short-context", type=int, default=64, help="curriculum: sequence length of the first --short-steps steps")
    ap.add_argument("--short-steps", type=int, default=600, help="curriculum: steps at --short-context (batch scaled to the same bytes per step)")
    ap.add_argument("--pos", choices=["sinusoidal", "learned"], default="sinusoidal", help="position embedding (learned: initialised sinusoidal)")
    ap.add_argument("--pos-scale", type=float, default=1.0, help="sinusoidal positions (or their initial value) times this")
    ap.add_argument("--pos-base", type=float, default=10000.0, help="sinusoidal wavelengths 2*pi*base^(2i/dim)")
    ap.add_argument("--layout", choices=["add", "split"], default="split",
                    help="add: x = E[tok] + P over all d coordinates; split: E in the first d/2, P in the last d/2")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.d % args.heads:
        sys.exit("train_layer.py: --d must be a multiple of --heads")
    records = []
    for r in args.record:
        out, _, n = r.rpartition("=")
        if not out or not n.isdigit() or int(n) < 1:
            sys.exit(f"train_layer.py: --record {r}: expected DIR=N with N >= 1")
        records.append((out, int(n)))
    if min(args.context, args.short_context, args.steps, args.batch) < 1 or args.short_steps < 0:
        sys.exit("train_layer.py: --context, --short-context, --steps, --batch must be >= 1, --short-steps >= 0")

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train_np, held_np, files = load_text()
    train = torch.from_numpy(train_np)
    for out, n in records:
        if len(held_np) < n:
            sys.exit(f"train_layer.py: --record {out}={n}: the held-out text has only {len(held_np)} bytes")

    max_len = max(args.context, args.short_context, *(n for _, n in records))
    model = Layer(args.d, args.heads, max_len, args.pos, args.pos_scale, args.layout == "split", args.pos_base)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    curve = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        # Curriculum: short sequences first (a local head forms much sooner when there are few keys;
        # same number of bytes per step), then --context so the head learns to ignore far keys.
        short = step < args.short_steps
        T = args.short_context if short else args.context
        bs = max(1, args.batch * args.context // args.short_context) if short else args.batch
        tokens, target, mask, offsets = masked_batch(train, bs, T, max_len, gen)
        logits = model(tokens, offsets)[0]
        loss = Fn.cross_entropy(logits[mask], target[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss))
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - t0:6.1f} s", file=sys.stderr)
    train_seconds = time.perf_counter() - t0

    # Held-out masked loss over windows of --context bytes (same masking rate, fixed generator).
    model.eval()
    with torch.no_grad():
        hg = torch.Generator().manual_seed(12345)
        held = torch.from_numpy(held_np)
        hl = []
        for s0 in range(0, len(held) - args.context + 1, args.context):
            tgt = held[s0:s0 + args.context][None, :]
            m = torch.rand(tgt.shape, generator=hg) < MASK_RATE
            lg = model(torch.where(m, torch.full_like(tgt, MASK), tgt))[0]
            hl.append(float(Fn.cross_entropy(lg[m], tgt[m])))
    k = max(1, len(curve) // 10)
    meta = {
        "objective": f"masked-byte denoising: {MASK_RATE:.0%} of bytes replaced by [MASK], cross-entropy on those",
        "training": {"seed": args.seed, "threads": args.threads, "steps": args.steps, "batch": args.batch, "context": args.context,
                     "curriculum": {"shortContext": args.short_context, "shortSteps": args.short_steps},
                     "positions": {"kind": args.pos, "scale": args.pos_scale, "base": args.pos_base, "layout": args.layout,
                                   "offsets": f"each training sequence at a random position offset in [0, {max_len} - T]"},
                     "optimizer": f"Adam lr {args.lr}, 100-step warm-up, cosine decay", "dtype": "float32", "device": "cpu",
                     "seconds": round(train_seconds, 1), "torch": torch.__version__,
                     "lossFirst": float(np.mean(curve[:k])), "lossLast": float(np.mean(curve[-k:])),
                     "lossCurve": [round(float(np.mean(curve[i:i + k])), 4) for i in range(0, len(curve), k)],
                     "lossCurveNote": f"mean training loss (nats per masked byte) of consecutive {k}-step windows",
                     "heldOutLoss": float(np.mean(hl)), "heldOutWindows": len(hl), "uniformLoss": math.log(256)},
        "text": {"source": f"{LICENSES}/* (Debian common-licenses; regular files, sorted, symlinks resolved, joined by blank lines)",
                 "trainFiles": files, "trainBytes": int(len(train_np)),
                 "trainSha256": hashlib.sha256(train_np.astype(np.uint8).tobytes()).hexdigest(),
                 "heldOut": f"{LICENSES}/{HELD_OUT}", "heldOutBytes": int(len(held_np)),
                 "heldOutSha256": hashlib.sha256(held_np.astype(np.uint8).tobytes()).hexdigest()},
        "command": "/usr/bin/python3 bench/train_layer.py " + " ".join(sys.argv[1:]),
    }
    for out, n in records:
        print(json.dumps(record(model, args, held_np, n, out, meta)))


if __name__ == "__main__":
    main()
