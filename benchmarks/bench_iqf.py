#!/usr/bin/env python
"""Benchmark: our ``IQF`` distribution vs GluonTS's ``ISQF``, side by side.

Both distributions are built from the SAME raw network outputs (seeded
standard normal) through each library's own ``DistributionOutput.domain_map``
and ``distribution(args, loc, scale)`` (loc = 0, scale ~ U(1, 100), so GluonTS
returns a ``TransformedISQF``), for a batch of ``--batch`` series x
``--steps`` steps, in two configurations:

* 19 knots (levels 0.05, 0.10, ..., 0.95) x 10 spline pieces;
* 5 knots (0.1, 0.3, 0.5, 0.7, 0.9) x 1 piece (plain IQF).

Timed operations (median of ``--repeats`` after one warm-up, wall clock with
``time.perf_counter``, ``torch.no_grad`` except for the training step). Each
timed call builds the distribution from the domain-mapped arguments and then
queries it, because our ``IQF`` computes its spline grid lazily on the first
query while GluonTS's ``ISQF`` does all of it in ``__init__``; the timings of
the query alone on an already-built distribution are recorded as well. Every
timing is taken twice: with the two libraries' calls alternating, and in
steady state (each timed call right after an untimed call of the same
operation by the same library, the pairs still alternating), which is how a
loop of training steps or queries runs; on a small virtual machine a short
call right after the other library's memory-heavy one can be slower by up
to ~1 ms.

1. quantiles at the 9 levels 0.1, ..., 0.9: ours ``distr.icdf(levels.reshape(9,
   1, 1))``; GluonTS's ``TransformedISQF`` has no ``icdf``/``quantile``, so its
   base ``ISQF.quantile(levels.reshape(9, 1, 1))`` (the levels on axis 0, as
   ``quantile_internal(dim=0)`` expects, broadcast over the batch) followed by
   the distribution's own ``AffineTransform``;
2. cdf of a batch of targets (batch x steps);
3. CRPS of the same targets;
4. 100 sample paths, ``distr.sample((100,))``;
5. one training step: raw outputs (leaves that require grad, one contiguous
   tensor per projection as GluonTS's ``PtArgProj`` produces them) ->
   domain_map -> distribution -> mean CRPS -> backward. Ours through
   ``IQFOutput(knot_levels, num_pieces).loss``; GluonTS 0.17's
   ``ISQFOutput.loss`` is the base ``DistributionOutput.loss`` (negative
   log-likelihood), which raises ``NotImplementedError`` because ``ISQF`` has
   no ``log_prob``, so its step uses ``ISQFOutput.distribution(...).crps``
   (``ISQF.loss`` is its CRPS).

Before timing, a float64 equivalence check builds GluonTS's ISQF from raw
outputs and our ``IQF`` directly from the knot values, tail rates and spline
fractions read off GluonTS's parametrisation (the two ``domain_map`` differ:
ours uses softplus and level-gap scaling, GluonTS uses abs), and compares
quantiles, cdf and CRPS to 1e-4 relative.

Usage::

    python benchmarks/bench_iqf.py [--batch 256] [--steps 48] [--repeats 5]
        [--seed 0] [--threads N] [--device cpu]
        [--output benchmarks/results/iqf.json]
        [--markdown benchmarks/RESULTS.md] [--no-single-thread-pass]
        [--dtype float32] [--profile] [--baseline REV] [--no-steady-state]

On CPU with more than one thread, the timings are taken twice in the same
run: with the chosen thread count and with 1 thread. Multi-thread timings on a
small machine shared with other jobs are dominated by OpenMP regions waiting
for a descheduled worker thread; a probe (one large element-wise add) and the
load average are recorded per pass, and multi-thread timings more than 2x the
single-thread ones are flagged.

Results go to ``--output`` (JSON) and to the section ``## IQF distribution vs
GluonTS ISQF`` of ``--markdown`` (created if missing; only that section is
replaced). The project's target is a speed-up (GluonTS time / our time) of at
least 10x for every operation.
"""

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_model as _cpu_model, package_version as _version, rel as _rel, write_section  # noqa: E402

#: the files of ours that the benchmark exercises
IQF_CODE = (
    "gluonts_iqf/__init__.py",
    "gluonts_iqf/distributions/__init__.py",
    "gluonts_iqf/distributions/iqf.py",
    "gluonts_iqf/distributions/iqf_output.py",
    "gluonts_iqf/distributions/_common.py",
    "gluonts_iqf/distributions/_grid.py",
    "gluonts_iqf/distributions/_knots.py",
    "gluonts_iqf/distributions/_plain.py",
    "gluonts_iqf/distributions/_domain_map.py",
    "gluonts_iqf/distributions/_compiled.py",
    "gluonts_iqf/levels.py",
)
SECTION = "## IQF distribution vs GluonTS ISQF"
TARGET_SPEEDUP = 10.0
QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
NUM_SAMPLES = 100
SLOW_CALL_S = 60.0  # a warm-up slower than this reduces the repeats to 1
CHECK_RTOL = 1e-4

CONFIGS = (
    dict(
        name="19 knots x 10 pieces",
        knot_levels=tuple(round(0.05 * i, 2) for i in range(1, 20)),
        num_pieces=10,
    ),
    dict(
        name="5 knots x 1 piece",
        knot_levels=(0.1, 0.3, 0.5, 0.7, 0.9),
        num_pieces=1,
    ),
    # the same plain IQF with its compiled kernels (``IQFOutput(compile=True)``;
    # GluonTS's side is the same as in the config above)
    dict(
        name="5 knots x 1 piece, compile=True",
        knot_levels=(0.1, 0.3, 0.5, 0.7, 0.9),
        num_pieces=1,
        compile=True,
    ),
)
COMPILED_SUFFIX = ", compile=True"

OPERATIONS = (
    ("quantile", "quantiles at 9 levels"),
    ("cdf", "cdf of targets"),
    ("crps", "CRPS of targets"),
    ("sample", f"sample {NUM_SAMPLES} paths"),
    ("train_step", "training step (fwd + bwd)"),
)


# --------------------------------------------------------------------------- #
# setup
# --------------------------------------------------------------------------- #
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time our IQF vs GluonTS's ISQF with the same knots and pieces."
    )
    p.add_argument("--batch", type=int, default=256, help="number of series")
    p.add_argument("--steps", type=int, default=48, help="time steps per series")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per op")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=None,
        help="torch intra-op threads (default: torch's default)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--dtype", default="float32", choices=("float32", "float64"),
        help="dtype of the timed runs (the equivalence check is always float64)",
    )
    p.add_argument(
        "--output", type=Path, default=REPO / "benchmarks" / "results" / "iqf.json",
        help="JSON results file",
    )
    p.add_argument(
        "--markdown", type=str, default=str(REPO / "benchmarks" / "RESULTS.md"),
        help=f"markdown file whose '{SECTION}' section is (re)written; '' to skip",
    )
    p.add_argument(
        "--no-single-thread-pass", dest="single_thread_pass", action="store_false",
        help="skip the second, single-thread timing pass (run by default on CPU "
        "when more than one thread is used)",
    )
    p.add_argument(
        "--baseline", default=None, metavar="REV",
        help="git revision whose committed benchmarks/results/iqf.json is shown "
        "next to this run (our time and speed-up before), e.g. the commit "
        "before an optimisation",
    )
    p.add_argument(
        "--no-steady-state", dest="steady_state", action="store_false",
        help="skip the steady-state timings (each timed call right after an "
        "untimed call of the same operation), taken by default next to the "
        "alternating ones",
    )
    p.add_argument(
        "--profile", action="store_true",
        help="also print a torch.profiler table of our IQF for each operation",
    )
    p.add_argument(
        "--from-json", type=Path, default=None, metavar="PATH",
        help="only rewrite the markdown section from a results JSON written by "
        "an earlier run (e.g. after editing the notes); times nothing",
    )
    return p.parse_args(argv)


def git_state() -> Dict[str, Optional[str]]:
    """Commit of the checkout and whether the benchmarked code (``IQF`` and
    its imports) differs from it."""
    import subprocess

    def git(*cmd):
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *cmd], capture_output=True, text=True,
                timeout=10, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--", *IQF_CODE)
    return dict(
        commit=commit,
        iqf_code_modified=None if status is None else bool(status),
    )


def split_raw(raw, K: int, S: int) -> Dict[str, "torch.Tensor"]:
    """One raw network-output tensor (..., K + 2 + 2 (K-1) S) -> its parts by
    meaning, shared by both libraries, each contiguous (in a model each is
    the output of its own projection layer, GluonTS's ``PtArgProj``)."""
    import torch

    sizes = [K, 2, (K - 1) * S, (K - 1) * S]
    knots, tails, widths, heights = torch.split(raw, sizes, dim=-1)
    return dict(
        knots=knots.contiguous(), tails=tails.contiguous(),
        widths=widths.contiguous(), heights=heights.contiguous(),
    )


def ours_raw(parts, output) -> Tuple:
    """Raw parts in the order of ``IQFOutput.args_dim``."""
    names = {"knot_values": "knots", "tails": "tails",
             "piece_widths": "widths", "piece_heights": "heights"}
    return tuple(parts[names[k]] for k in output.args_dim)


def gluonts_raw(parts, output) -> Tuple:
    """Raw parts in the order of ``ISQFOutput.args_dim``."""
    tails = parts["tails"]
    by_name = {
        "spline_knots": parts["widths"],
        "spline_heights": parts["heights"],
        "beta_l": tails[..., 0:1].contiguous(),
        "beta_r": tails[..., 1:2].contiguous(),
        "quantile_knots": parts["knots"],
    }
    return tuple(by_name[k] for k in output.args_dim)


class Problem:
    """Raw outputs, loc/scale, targets and both outputs for one config."""

    def __init__(self, cfg, batch, steps, gen, dtype, device):
        import torch
        from gluonts.torch.distributions.isqf import ISQFOutput
        from gluonts_iqf.distributions.iqf import IQFOutput

        self.name = cfg["name"]
        self.levels = list(cfg["knot_levels"])
        self.K, self.S = len(self.levels), cfg["num_pieces"]
        self.ours_out = IQFOutput(
            knot_levels=self.levels, num_pieces=self.S, compile=cfg.get("compile", False)
        )
        self.gl_out = ISQFOutput(num_pieces=self.S, qk_x=self.levels)
        D = self.K + 2 + 2 * (self.K - 1) * self.S
        assert D == sum(self.ours_out.args_dim.values()) + (
            0 if self.S > 1 else 2 * (self.K - 1)
        )
        assert D == sum(self.gl_out.args_dim.values())

        def rand(*shape, kind="normal"):
            f = torch.randn if kind == "normal" else torch.rand
            return f(*shape, generator=gen, dtype=torch.float64).to(dtype).to(device)

        self.raw = rand(batch, steps, D)
        self.parts = split_raw(self.raw, self.K, self.S)
        self.loc = torch.zeros(batch, steps, dtype=dtype, device=device)
        self.scale = 1.0 + 99.0 * rand(batch, 1, kind="uniform").expand(batch, steps)
        self.scale = self.scale.contiguous()
        self.target = self.loc + self.scale * 3.0 * rand(batch, steps)
        self.q_levels = torch.tensor(
            QUANTILE_LEVELS, dtype=dtype, device=device
        ).reshape(-1, 1, 1)

    # domain-mapped arguments, reused by the query timings
    def ours_args(self, parts=None):
        parts = self.parts if parts is None else parts
        return self.ours_out.domain_map(*ours_raw(parts, self.ours_out))

    def gl_args(self, parts=None):
        parts = self.parts if parts is None else parts
        return self.gl_out.domain_map(*gluonts_raw(parts, self.gl_out))


def gl_quantile(distr, levels):
    """Quantiles of a GluonTS (Transformed)ISQF at levels (L, 1, 1) ->
    (L, *batch). ``TransformedISQF`` has neither ``icdf`` nor ``quantile``:
    query the base ``ISQF`` (levels on axis 0, broadcast over the batch) and
    apply the distribution's own transforms."""
    base = getattr(distr, "base_dist", distr)
    q = base.quantile(levels)
    for t in getattr(distr, "transforms", ()):
        q = t(q)
    return q


# --------------------------------------------------------------------------- #
# float64 equivalence check
# --------------------------------------------------------------------------- #
def equivalent_pair(prob: "Problem"):
    """GluonTS's TransformedISQF from the raw outputs and our IQF built
    directly from the parameters read off it."""
    from gluonts_iqf.distributions.iqf import IQF

    gl = prob.gl_out.distribution(prob.gl_args(), loc=prob.loc, scale=prob.scale)
    b = gl.base_dist
    widths = heights = None
    if prob.S > 1:
        # spline fractions: GluonTS's piece sizes over their interval sizes
        widths = b.delta_sk_x / (b.qk_x_plus - b.qk_x).unsqueeze(-1)
        heights = b.delta_sk_y / (b.qk_y_plus - b.qk_y).unsqueeze(-1)
    ours = IQF(
        prob.levels, b.qk_y_all, b.beta_l, b.beta_r, widths, heights,
        loc=prob.loc, scale=prob.scale, validate_args=True,
    )
    return ours, gl


def _deviation(ours, ref, floor):
    import torch

    ours, ref = torch.broadcast_tensors(ours, ref)
    diff = (ours - ref).abs()
    rel = diff / torch.maximum(torch.maximum(ours.abs(), ref.abs()), floor.expand_as(diff))
    finite = torch.isfinite(ours) & torch.isfinite(ref)
    nonfinite_mismatch = int((~finite & (ours != ref)).sum())
    i = int(torch.argmax(torch.where(finite, rel, torch.zeros_like(rel))))
    return dict(
        max_abs=float(torch.where(finite, diff, torch.zeros_like(diff)).max()),
        max_rel=float(rel.flatten()[i]) if finite.any() else 0.0,
        worst_ours=float(ours.flatten()[i]),
        worst_gluonts=float(ref.flatten()[i]),
        nonfinite_mismatch=nonfinite_mismatch,
        n=int(diff.numel()),
    )


def check_equivalence(batch, steps, seed) -> List[Dict]:
    """Compare quantiles, cdf and CRPS of an equivalent IQF / ISQF pair in
    float64 for both configs; returns one record per (config, quantity)."""
    import torch

    records = []
    gen = torch.Generator().manual_seed(seed + 1000)
    for cfg in CONFIGS:
        if cfg.get("compile"):  # the same pair as the eager config (tests compare the paths)
            continue
        prob = Problem(cfg, batch, steps, gen, torch.float64, "cpu")
        with torch.no_grad():
            ours, gl = equivalent_pair(prob)
            scale = prob.scale
            vfloor = 1e-8 * scale  # value-valued outputs: relative, floored
            pfloor = torch.full_like(scale, 1e-12)  # probabilities
            # targets: the distribution's own quantiles at random levels (bulk
            # and tails) and a wide normal spread (far tails on both sides)
            u = torch.rand(batch, steps, generator=gen, dtype=torch.float64)
            u = u.clamp(1e-6, 1 - 1e-6)
            z_bulk = gl.transforms[0](gl.base_dist.quantile_internal(u, dim=None))
            z_wide = prob.target
            checks = {
                "quantile (9 levels)": (
                    ours.icdf(prob.q_levels), gl_quantile(gl, prob.q_levels), vfloor
                ),
                "quantile (9 levels expanded)": (
                    ours.icdf(prob.q_levels.expand(-1, batch, steps)),
                    gl_quantile(gl, prob.q_levels.expand(-1, batch, steps).contiguous()),
                    vfloor,
                ),
                "quantile (random levels)": (
                    ours.icdf(u), z_bulk, vfloor
                ),
                "cdf (targets ~ distribution)": (ours.cdf(z_bulk), gl.cdf(z_bulk), pfloor),
                "cdf (wide targets)": (ours.cdf(z_wide), gl.cdf(z_wide), pfloor),
                "crps (targets ~ distribution)": (
                    ours.crps(z_bulk), gl.crps(z_bulk), vfloor
                ),
                "crps (wide targets)": (ours.crps(z_wide), gl.crps(z_wide), vfloor),
            }
            for quantity, (a, b, floor) in checks.items():
                dev = _deviation(a, b, floor)
                dev.update(
                    config=cfg["name"], quantity=quantity,
                    ok=dev["max_rel"] <= CHECK_RTOL and dev["nonfinite_mismatch"] == 0,
                )
                records.append(dev)
    return records


# --------------------------------------------------------------------------- #
# timing
# --------------------------------------------------------------------------- #
def make_sync(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def _timed(fn: Callable, sync: Callable) -> Tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    sync()
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def _summary(wall: List[float], cpu: List[float], warm: float, repeats: int) -> Dict:
    return dict(
        median_ms=statistics.median(wall),
        min_ms=min(wall),
        times_ms=wall,
        cpu_median_ms=statistics.median(cpu),
        warmup_ms=warm,
        repeats=len(wall),
        reduced_repeats=len(wall) != repeats,
    )


def time_pair(fn_ours: Callable, fn_gl: Callable, repeats: int, sync: Callable,
              steady: bool = False):
    """One warm-up call of each, then ``repeats`` timed calls of each,
    alternating ours / GluonTS so that both see the same machine state (on a
    small shared machine other jobs come and go and can slow everything
    several times for seconds). A side whose warm-up took longer than ``SLOW_CALL_S`` gets one
    timed call only. With ``steady``, every timed call comes right after an
    untimed call of the same function (each library timed in its own steady
    state, as in a loop of the same query or training step, while the pairs
    still alternate). Returns two summaries (milliseconds)."""
    warm_o, _ = _timed(fn_ours, sync)
    warm_g, _ = _timed(fn_gl, sync)
    n_o = repeats if warm_o <= SLOW_CALL_S * 1e3 else 1
    n_g = repeats if warm_g <= SLOW_CALL_S * 1e3 else 1
    wo, co, wg, cg = [], [], [], []
    for i in range(repeats):
        if i < n_o:
            if steady:
                _timed(fn_ours, sync)
            w, c = _timed(fn_ours, sync)
            wo.append(w)
            co.append(c)
        if i < n_g:
            if steady:
                _timed(fn_gl, sync)
            w, c = _timed(fn_gl, sync)
            wg.append(w)
            cg.append(c)
    return _summary(wo, co, warm_o, repeats), _summary(wg, cg, warm_g, repeats)


def op_callables(prob: "Problem"):
    """For every operation: (ours, gluonts) callables that build the
    distribution from domain-mapped args and query it, and (ours, gluonts)
    callables that query an already-built distribution. The training step
    has no pre-built variant."""
    import torch

    loc, scale, target, lv = prob.loc, prob.scale, prob.target, prob.q_levels
    with torch.no_grad():
        oa, ga = prob.ours_args(), prob.gl_args()
    o_dist = lambda: prob.ours_out.distribution(oa, loc=loc, scale=scale)  # noqa: E731
    g_dist = lambda: prob.gl_out.distribution(ga, loc=loc, scale=scale)  # noqa: E731
    o_built, g_built = o_dist(), g_dist()

    queries = {
        "quantile": (lambda d: d.icdf(lv), lambda d: gl_quantile(d, lv)),
        "cdf": (lambda d: d.cdf(target), lambda d: d.cdf(target)),
        "crps": (lambda d: d.crps(target), lambda d: d.crps(target)),
        "sample": (
            lambda d: d.sample((NUM_SAMPLES,)), lambda d: d.sample((NUM_SAMPLES,))
        ),
    }

    def no_grad(f):
        def g():
            with torch.no_grad():
                return f()
        return g

    out = {}
    for op, (oq, gq) in queries.items():
        out[op] = dict(
            fresh=(no_grad(lambda oq=oq: oq(o_dist())), no_grad(lambda gq=gq: gq(g_dist()))),
            built=(no_grad(lambda oq=oq: oq(o_built)), no_grad(lambda gq=gq: gq(g_built))),
        )

    # raw network outputs: leaves that require grad, one per projection
    leaves_o = {k: v.detach().clone().requires_grad_(True) for k, v in prob.parts.items()}
    leaves_g = {k: v.detach().clone().requires_grad_(True) for k, v in prob.parts.items()}

    def ours_step():
        for v in leaves_o.values():
            v.grad = None
        args = prob.ours_out.domain_map(*ours_raw(leaves_o, prob.ours_out))
        loss = prob.ours_out.loss(target, args, loc=loc, scale=scale).mean()
        loss.backward()
        return loss

    def gl_step():
        for v in leaves_g.values():
            v.grad = None
        args = prob.gl_out.domain_map(*gluonts_raw(leaves_g, prob.gl_out))
        distr = prob.gl_out.distribution(args, loc=loc, scale=scale)
        loss = distr.crps(target).mean()
        loss.backward()
        return loss

    out["train_step"] = dict(fresh=(ours_step, gl_step), built=None)
    return out


def _pair(fn_ours: Callable, fn_gl: Callable, args, sync: Callable) -> Dict:
    """Both libraries timed alternately (:func:`time_pair`), with the
    speed-up and whether it meets the target; with ``args.steady_state``
    also in steady state, under the key ``steady``."""

    def entry(steady: bool) -> Dict:
        ours, gl = time_pair(fn_ours, fn_gl, args.repeats, sync, steady=steady)
        speedup = gl["median_ms"] / ours["median_ms"]
        return dict(ours=ours, gluonts=gl, speedup=speedup,
                    target_met=speedup >= TARGET_SPEEDUP)

    out = entry(False)
    if args.steady_state:
        out["steady"] = entry(True)
    return out


def run_timings(args, dtype, threads: int) -> List[Dict]:
    """Time every (config, operation) with ``threads`` intra-op threads."""
    import torch

    torch.set_num_threads(threads)
    sync = make_sync(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    rows = []
    for cfg in CONFIGS:
        prob = Problem(cfg, args.batch, args.steps, gen, dtype, args.device)
        calls = op_callables(prob)
        for op, label in OPERATIONS:
            c = calls[op]
            print(f"  [{threads} thr] timing {op:10s} {cfg['name']} ...", flush=True)
            row = dict(operation=op, label=label, config=cfg["name"], threads=threads)
            row.update(_pair(*c["fresh"], args, sync))
            ours, gl = row["ours"], row["gluonts"]
            if c["built"] is not None:
                row["prebuilt"] = _pair(*c["built"], args, sync)
            notes = []
            if op == "quantile":
                notes.append(
                    "GluonTS quantiles: `TransformedISQF` has no `icdf`/`quantile`, "
                    "so the timed call is the base `ISQF.quantile(levels)` (levels "
                    "shaped (9, 1, 1) on axis 0, as `quantile_internal(dim=0)` "
                    "expects, broadcast over the batch) followed by the "
                    "distribution's own `AffineTransform`"
                )
            if op == "train_step":
                notes.append(
                    "GluonTS training step: GluonTS 0.17's `ISQFOutput.loss` is the "
                    "base `DistributionOutput.loss` (negative log-likelihood) and "
                    "raises `NotImplementedError` (`ISQF` has no `log_prob`), so "
                    "the timed step is `ISQFOutput.domain_map` -> `distribution` -> "
                    "`.crps(target).mean()` -> backward (`ISQF.loss` is its CRPS); "
                    "ours is `IQFOutput(knot_levels, num_pieces).loss(...).mean()`. "
                    "Both start from the raw outputs (one leaf requiring grad per projection)"
                )
            if cfg.get("compile"):
                notes.append(
                    f"ours {label}, {cfg['name']}: the untimed first call, which compiles "
                    f"the kernels it needs, took {ours['warmup_ms'] / 1e3:.1f} s"
                )
            if gl["reduced_repeats"]:
                notes.append(
                    f"GluonTS {label}, {cfg['name']}: warm-up > {SLOW_CALL_S:.0f} s, "
                    "1 timed call"
                )
            if ours["reduced_repeats"]:
                notes.append(
                    f"ours {label}, {cfg['name']}: warm-up > {SLOW_CALL_S:.0f} s, "
                    "1 timed call"
                )
            row["notes"] = notes
            rows.append(row)
        if args.profile:
            profile_ours(prob, calls)
        del prob, calls
    return rows


def profile_ours(prob: "Problem", calls) -> None:
    """Print where our IQF spends its time, op by op (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    for op, _ in OPERATIONS:
        fn = calls[op]["fresh"][0]
        fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        print(f"\n--- profile of ours: {op}, {prob.name} ---")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def loadavg() -> Optional[float]:
    """1-minute load average (other jobs on the machine), if known."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def op_latency(threads: int, numel: int) -> float:
    """Median wall time (ms) of one element-wise add of ``numel`` float32
    values with ``threads`` threads: a probe of the machine's per-op
    threading overhead."""
    import torch

    torch.set_num_threads(threads)
    x = torch.rand(numel)
    times = []
    for _ in range(21):
        t0 = time.perf_counter()
        x + x
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[1:])


def tail_probe(seed: int, level: float = 1e-9) -> Dict:
    """float32 cdf at the quantile of a far-tail level, ours vs GluonTS's
    TransformedISQF and its base ISQF (5 knots x 1 piece, one series)."""
    import torch

    gen = torch.Generator().manual_seed(seed + 2000)
    prob = Problem(CONFIGS[1], 1, 1, gen, torch.float32, "cpu")
    with torch.no_grad():
        ours, gl = equivalent_pair(prob)
        u = torch.full((1, 1), level, dtype=torch.float32)
        z = gl.transforms[0](gl.base_dist.quantile_internal(u, dim=None))
        return dict(
            level=level,
            ours=float(ours.cdf(z)),
            gluonts_transformed=float(gl.cdf(z)),
            gluonts_base=float(gl.base_dist.cdf(gl.transforms[0].inv(z))),
        )


def _probe_text(ps: Dict) -> str:
    if "probe_numel" not in ps:
        return "n/a"
    return (
        f"add of {ps['probe_numel']:,} floats {ps['probe_before_ms']:.3f} ms before / "
        f"{ps['probe_after_ms']:.3f} ms after at {ps['threads']} thread(s), "
        f"{ps['probe_1_thread_ms']:.3f} ms at 1 thread; load average "
        f"{ps['load_before']} before / {ps['load_after']} after"
    )


# --------------------------------------------------------------------------- #
# reporting
# --------------------------------------------------------------------------- #
def fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


ANOMALY_RATIO = 2.0  # multi-thread time > this x single-thread time: flagged
ANOMALY_MARK = " \u2020"


def flag_thread_anomalies(passes) -> None:
    """Mark timings of a multi-thread pass that are more than
    ``ANOMALY_RATIO`` times the same timing of the single-thread pass: on a
    machine with a free core a second thread never makes an operation that
    much slower, so such a timing measures contention for the cores (an
    OpenMP parallel region waits for its worker thread whenever another
    process holds that core), not the code. Sets ``thread_anomaly`` on the timing
    dicts and ``anomalies`` (count) and ``degraded`` on the pass."""
    single = next((ps for ps in passes if ps["threads"] == 1), None)
    if single is None:
        return
    ref = {(r["operation"], r["config"]): r for r in single["rows"]}
    for ps in passes:
        if ps["threads"] == 1:
            continue
        n = total = 0
        for r in ps["rows"]:
            r1 = ref[(r["operation"], r["config"])]
            pairs = [(r, r1)]
            if "prebuilt" in r:
                pairs.append((r["prebuilt"], r1["prebuilt"]))
            for t, t1 in pairs:
                for side in ("ours", "gluonts"):
                    bad = t[side]["median_ms"] > ANOMALY_RATIO * t1[side]["median_ms"]
                    t[side]["thread_anomaly"] = bad
                    n += bad
                    total += 1
        ps["anomalies"] = n
        ps["timings"] = total
        ps["degraded"] = ps["degraded"] or n >= total / 4


def load_baseline(rev: Optional[str]) -> Optional[Dict]:
    """Single-thread rows of the results JSON committed at ``rev``, keyed by
    (operation, config), with the short commit; None without ``rev``."""
    if not rev:
        return None
    import subprocess

    path = "benchmarks/results/iqf.json"
    try:
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:{path}"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", rev],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        raise SystemExit(f"--baseline {rev}: cannot read {path} ({err})")
    data = json.loads(text)
    rows = data.get("results_1_thread") or data["results"]
    if rows and rows[0].get("threads") != 1:
        rows = data.get("results_1_thread", rows)
    return dict(
        commit=commit, date=data["meta"].get("date"),
        rows={(r["operation"], r["config"]): r for r in rows},
    )


def _baseline_cells(base, r, prebuilt: bool) -> Tuple[str, str]:
    """(our time before, speed-up before) for a row, or n/a."""
    b = base["rows"].get((r["operation"], r["config"])) if base else None
    if b is not None and prebuilt:
        b = b.get("prebuilt")
    if b is None:
        return "n/a", "n/a"
    return fmt_ms(b["ours"]["median_ms"]), f"{b['speedup']:.1f}x"


def _summary_modes(rows):
    """(label, rows) per way of running ours: the default (eager) configs,
    and, when compiled rows exist, the same operations with the plain
    config's rows replaced by their ``compile=True`` counterparts (compile
    applies to plain IQF only)."""
    eager = [r for r in rows if not r["config"].endswith(COMPILED_SUFFIX)]
    compiled = {(r["operation"], r["config"][: -len(COMPILED_SUFFIX)]): r
                for r in rows if r["config"].endswith(COMPILED_SUFFIX)}
    modes = [("default (eager)", eager)]
    if compiled:
        modes.append(("with `compile=True` for the plain config",
                      [compiled.get((r["operation"], r["config"]), r) for r in eager]))
    return modes


def _timing(r: Dict, prebuilt: bool, steady: bool) -> Optional[Dict]:
    """The timing entry of a row: alternating or steady state, with the
    distribution built in the call or before it (None if not measured)."""
    t = r.get("prebuilt") if prebuilt else r
    if t is not None and steady:
        t = t.get("steady")
    return t


def _table_rows(rows, prebuilt: bool, steady: bool = False):
    for r in rows:
        t = _timing(r, prebuilt, steady)
        if t is None:
            continue
        mark = {
            side: ANOMALY_MARK if t[side].get("thread_anomaly") else ""
            for side in ("ours", "gluonts")
        }
        sp_min = t["gluonts"]["min_ms"] / t["ours"]["min_ms"]
        yield (
            r["label"], r["config"], fmt_ms(t["ours"]["median_ms"]) + mark["ours"],
            fmt_ms(t["gluonts"]["median_ms"]) + mark["gluonts"],
            f"{t['speedup']:.1f}x", t["target_met"], f"{sp_min:.1f}x",
        )


def print_table(passes, checks) -> None:
    head = (
        f"{'operation':28s} {'config':22s} {'ours (ms)':>10s} {'gluonts (ms)':>13s} "
        f"{'speed-up':>9s}  >=10x"
    )
    for ps in passes:
        threads, rows = ps["threads"], ps["rows"]
        print(f"\n{threads} thread(s): machine probe {_probe_text(ps)}")
        for steady, prebuilt in ((False, False), (False, True), (True, False), (True, True)):
            what = (
                "query on an already-built distribution (our lazy parts cached)"
                if prebuilt else "distribution(args, loc, scale) + query"
            )
            if steady:
                if not any(_timing(r, prebuilt, True) for r in rows):
                    continue
                what += ", steady state"
            print(f"\n{threads} thread(s): {what}")
            print(head)
            print("-" * len(head))
            for lab, cfg, o, g, sp, ok, spm in _table_rows(rows, prebuilt, steady):
                print(f"{lab:28s} {cfg:22s} {o:>10s} {g:>13s} {sp:>9s}  "
                      f"{'yes' if ok else 'NO ':5s} (min-based {spm})")
    print("\nfloat64 equivalence check (ours built from GluonTS's parameters):")
    for c in checks:
        print(
            f"  {c['config']:22s} {c['quantity']:32s} max rel {c['max_rel']:.2e}  "
            f"max abs {c['max_abs']:.2e}  {'ok' if c['ok'] else 'MISMATCH'}"
        )


def _md_table(rows, prebuilt: bool, base=None, steady: bool = False) -> List[str]:
    head = (
        "| operation | config | ours (ms) | GluonTS (ms) | speed-up (GluonTS / ours) "
        "| >= 10x | speed-up of the fastest calls |"
    )
    rule = "|---|---|---:|---:|---:|:---:|---:|"
    if base:
        head += f" ours before (ms) | speed-up before |"
        rule += "---:|---:|"
    L = [head, rule]
    kept = [r for r in rows if _timing(r, prebuilt, steady) is not None]
    for r, (lab, cfg, o, g, sp, ok, spm) in zip(kept, _table_rows(rows, prebuilt, steady)):
        line = f"| {lab} | {cfg} | {o} | {g} | {sp} | {'yes' if ok else '**no**'} | {spm} |"
        if base:
            bo, bs = _baseline_cells(base, r, prebuilt)
            line += f" {bo} | {bs} |"
        L.append(line)
    return L


#: How the code reaches its speed, and where the target stays out of reach;
#: printed under the tables.
PERFORMANCE_NOTES = (
    "How our `IQF` is fast: cdf and CRPS queries with few values per series "
    "never build the (B, (K-1) S + 1) spline grid: they use closed-form "
    "per-interval integrals `I1 = int eta`, `I2 = int xi eta` of each interval's "
    "normalised spline (one pass over the (B, K-1, S) fractions) and, for a "
    "query, only the S pieces of its own interval; the (B, K-1, S) passes (the "
    "integrals and the floored softmax of `domain_map`) are custom autograd "
    "functions with hand-written backwards, run in row blocks of ~1 MB so that "
    "temporaries stay in cache instead of being freshly mapped (page faults) on "
    "every call; the queried interval rows and the integrals share one autograd "
    "node, so the backward writes one gradient buffer per fraction tensor. Plain "
    "IQF (one piece) has no grid at all: quantile, cdf and CRPS are short sums "
    "of clamped ramps over the K - 1 intervals plus tail terms that vanish "
    "inside the knots, in a knot-major (K, B) layout, with no bin search, "
    "gather or `where` (slow on CPU); sums run in a fixed order, so equal "
    "inputs give equal outputs and the cdf/quantiles stay monotone; its CRPS is "
    "one autograd node with a closed-form backward. Quantiles with spline "
    "pieces still come from the grid (built once per distribution), so a level "
    "gives bit-equal results alone or among others.",
    "`compile=True` (plain IQF): `domain_map`, quantiles, cdf, sampling and the "
    "CRPS with its closed-form backward are the eager path's pure functions over "
    "the knot-major (K, N) layout (`gluonts_iqf/distributions/_plain.py`), composed "
    "per query (`_compiled.py`), that `torch.compile` (inductor) turns into fused, "
    "vectorised C++ loops; the missing-target mask "
    "of the loss is fused into the CRPS kernels; `domain_map` returns the knot "
    "values as a view of a knot-major tensor, so the distribution reads them "
    "without a copy (inductor emits scalar code, slower than eager torch, when it "
    "reads the knots of the batch-major layout with stride K: measured). What is "
    "left per call is torch.compile's guard and wrapper overhead (tens of "
    "microseconds per kernel call), the layout transposes of the raw outputs "
    "and their gradients, and, for sampling, `torch.rand`'s 1.2 M uniforms "
    "(drawn outside the kernel: inductor's in-kernel generator was ~3x slower).",
    "Why some targets are not met in eager mode: at 256 x 48 the 5 knots x 1 piece queries "
    "are 12,288 values (110,592 for 9 quantile levels); GluonTS's own calls "
    "take ~0.5-4 ms there, so 10x would need ~50-400 us per call, i.e. a "
    "handful of eager torch operations (each costs ~5-15 us of dispatch plus "
    "its arithmetic, and building the distribution alone is ~10 of them). "
    "Sampling 100 paths is bounded below by drawing the 1.2 M uniforms "
    "(`torch.rand`, ~2.5-5 ms here, GluonTS's whole call ~40 ms). The 5 x 1 "
    "training step is still ~60 small operations forward and backward "
    "(domain_map, layout, the CRPS node and their gradients). The 19 "
    "x 10 training step (~40-50 ms) is dominated by passes over the "
    "(B, K-1, S) = 2.2 M spline fractions that any implementation needs "
    "(softmax forward/backward, integrals forward/backward: exp, cumsum); it "
    "is near the 10x line, and machine load moves it across.",
    "Small calls pay for what ran before them: on this machine (a virtual machine "
    "shared with other jobs), a 12,288-value plain-IQF call right after a call that "
    "touched a few MB of memory (as GluonTS's ISQF calls do in the alternating "
    "protocol) takes ~0.8-1.1 ms longer than after itself, compiled or eager "
    "(measured: compiled 9-level quantiles 0.14 ms back to back, 0.9-1.2 ms after "
    "allocating 50 MB or computing on 8 MB; eager 0.52 ms vs 1.5-1.8 ms; glibc's "
    "mmap/trim thresholds made no difference). The alternating tables charge "
    "this to our small calls; the steady-state tables time each library's call "
    "right after the same call of the same library (the way a loop over batches, "
    "queries or training steps runs), still alternating the pairs so that both "
    "libraries see the same phases of the machine.",
    "Tried for the 5 knots x 1 piece calls and not adopted (session of "
    "2026-12-05): (1) one-pass native kernels per value (numba, float64 inside, "
    "the knot loop per value): the CRPS with its partial derivatives cost ~30-40 "
    "ns per value (7 divisions, one `exp`, ~80 flops per value without SIMD; "
    "`exp`, division throughput and mispredicted interval branches measured "
    "separately), so the training step went from 2.2 to 1.6 ms but cdf, CRPS "
    "and quantile queries were no faster than eager torch and sampling slower; "
    "a multi-pass vectorisable variant was slower still (its float64 "
    "temporaries leave the cache): a JIT dependency for no target met. (2) "
    "`domain_map`'s knot and tail maps as one autograd node with a "
    "hand-written backward: 0.83 -> 0.80 ms forward + backward, because its "
    "passes are compute-bound, not dispatch-bound (softplus over the 61,440 raw "
    "knot values ~70 us, a transposed cumsum or flip over (12288, 5) ~40 us "
    "each). (3) `compile=True` with the raw outputs read in their batch-major "
    "layout inside the compiled `domain_map` (no transposed copies, ~0.2 ms of "
    "its 1.25 ms step): inductor's strided code made the step 3.2 ms.",
    "This machine is shared with other jobs: timings of both libraries move by "
    "tens of percent with their load (load average above; GluonTS's own times "
    "differ between this run and the baseline run for that reason), so compare "
    "the speed-ups, both taken within one run with alternating calls.",
)


def markdown_section(meta, passes, checks, output_path: str, base=None) -> str:
    L = [SECTION, ""]
    L.append(f"Command: `{meta['command']}`  ")
    g = meta.get("git") or {}
    code = f"commit `{g.get('commit')}`" if g.get("commit") else "unknown commit"
    if g.get("iqf_code_modified"):
        code += " with uncommitted changes to the IQF code"
    elif g.get("iqf_code_modified") is False:
        code += " (IQF code as committed)"
    L.append(f"Date: {meta['date']}; code: {code}  ")
    L.append(
        f"Versions: torch {meta['torch']}, gluonts {meta['gluonts']}, "
        f"Python {meta['python']}  "
    )
    L.append(
        f"Hardware: {meta['cpu_model']} ({meta['cpu_count']} logical CPUs), "
        f"device `{meta['device']}`, torch intra-op threads {meta['threads']}  "
    )
    L.append(
        f"Setup: batch {meta['batch']} series x {meta['steps']} steps, {meta['dtype']}, "
        f"seed {meta['seed']}; median of {meta['repeats']} calls after one warm-up "
        "(wall clock, `time.perf_counter`; our and GluonTS's calls alternate"
        + ("; the steady-state tables time each call right after an untimed call "
           "of the same operation, the pairs still alternating"
           if meta.get("steady_state") else "")
        + "); raw "
        "network outputs ~ N(0, 1) shared by both libraries, loc = 0, scale ~ "
        "U(1, 100) per series, targets = scale x 3 x N(0, 1); `torch.no_grad` except "
        f"for the training step. Target: speed-up (ratio of the medians) >= "
        f"{TARGET_SPEEDUP:.0f}x for every operation; the last column of each table "
        "is the ratio of the fastest calls, less sensitive to other load on the machine."
    )
    L.append("")
    L.append(
        "Configs: 19 knots (levels 0.05, 0.10, ..., 0.95) x 10 spline pieces, and "
        "5 knots (0.1, 0.3, 0.5, 0.7, 0.9) x 1 piece, the same for both libraries "
        "(`IQFOutput(knot_levels, num_pieces)` / `ISQFOutput(num_pieces, qk_x)`); "
        "the rows \"5 knots x 1 piece, compile=True\" time our plain IQF with "
        "`IQFOutput(knot_levels, compile=True)` (fused kernels compiled by `torch.compile`, "
        "opt-in; the first call of each kernel compiles it, untimed, its duration in the "
        "notes) against the same GluonTS calls. "
        "Operations: quantiles at the 9 levels 0.1, ..., 0.9 (ours "
        "`icdf(levels.reshape(9, 1, 1))`), cdf and CRPS of a batch x steps batch of "
        f"targets, `sample(({NUM_SAMPLES},))`, and one training step (domain_map from "
        "raw outputs that require grad -> distribution -> mean CRPS -> backward)."
    )
    L.append("")
    if passes and "probe_numel" in passes[0]:
        L.append(
            "Machine probe: median wall time of one element-wise add of "
            f"{passes[0]['probe_numel']:,} float32 values (the size of the 19 x 10 "
            "spline grid at 256 x 48), at the pass's thread count before and after "
            "the pass, and with 1 thread, plus the 1-minute load average. When "
            "other processes keep the cores busy (this machine is shared with "
            "other jobs), the multi-thread figure jumps from ~0.2 ms to ~8-16 ms: "
            "every OpenMP parallel region waits a scheduler slice for its "
            "descheduled worker thread; the multi-thread timings then measure "
            "that contention, not the code, and the single-thread pass is the "
            "better measure."
        )
        L.append("")
    if base:
        L.append(
            f"Before/after: the columns \"ours before\" and \"speed-up before\" are "
            f"the single-thread results committed at `{base['commit']}` (run of "
            f"{base['date']}), the code before the current optimisations, measured "
            "by the same script (`--baseline`)."
        )
        L.append("")
    for ps in passes:
        for steady in (False, True):
            for mode, rows in _summary_modes(ps["rows"]):
                fresh = [t for t in (_timing(r, False, steady) for r in rows) if t]
                built = [t for t in (_timing(r, True, steady) for r in rows) if t]
                if not fresh:
                    continue
                met = sum(t["target_met"] for t in fresh)
                met_b = sum(t["target_met"] for t in built)
                L.append(
                    f"Summary, {ps['threads']} thread(s), {mode}"
                    + (", steady state" if steady else ", alternating calls")
                    + f": target met for {met} of {len(fresh)} operations "
                    f"(distribution + query) and {met_b} of {len(built)} "
                    "(query on a built distribution)"
                    + (" -- pass degraded by other load on the machine, see below." if ps["degraded"] else ".")
                    + "  "
                )
    L.append("")
    for k, ps in enumerate(passes):
        threads, rows = ps["threads"], ps["rows"]
        tag = f"{threads} thread{'s' if threads > 1 else ''}"
        if k > 0:
            L.append(
                f"#### Same run, {tag} (`torch.set_num_threads({threads})`)"
            )
            L.append("")
        L.append(f"Machine probe for this pass: {_probe_text(ps)}.")
        if ps.get("anomalies"):
            L.append(
                f"{ANOMALY_MARK.strip()} marks {ps['anomalies']} of {ps['timings']} "
                f"timings that are more than {ANOMALY_RATIO:g}x the same timing with "
                "1 thread: with a free core a second thread does not make an "
                "operation that much slower, so these measure contention for the "
                "cores with other processes, not the code."
            )
        if ps["degraded"]:
            L.append("")
            L.append(
                f"> **Warning:** this {threads}-thread pass was degraded by other "
                "load on the machine (per-op threading overhead many times the "
                "single-thread one during the pass); prefer the single-thread "
                "tables to judge the code."
            )
        L.append("")
        L.append(
            f"**{tag}: `distribution(args, loc, scale)` + query.** Each timed call "
            "builds the distribution from the domain-mapped arguments, then queries "
            "it (our `IQF` computes what a query needs lazily on the first "
            "query: per-interval integrals, and its spline grid only for queries "
            "with many values per series; GluonTS's `ISQF` builds its spline in "
            "`__init__`):"
        )
        L.append("")
        L.extend(_md_table(rows, prebuilt=False, base=base if threads == 1 else None))
        L.append("")
        L.append(
            f"**{tag}: query alone on an already-built distribution** (after "
            "one earlier query, so our lazily computed parts are cached):"
        )
        L.append("")
        L.extend(_md_table(rows, prebuilt=True, base=base if threads == 1 else None))
        L.append("")
        if any(_timing(r, False, True) for r in rows):
            L.append(
                f"**{tag}, steady state: `distribution(args, loc, scale)` + query.** "
                "The same operations, each timed call right after an untimed call "
                "of the same operation by the same library (as in a loop over "
                "batches, queries or training steps), the pairs alternating "
                "between the libraries:"
            )
            L.append("")
            L.extend(_md_table(rows, prebuilt=False, steady=True))
            L.append("")
            L.append(f"**{tag}, steady state: query alone on an already-built distribution:**")
            L.append("")
            L.extend(_md_table(rows, prebuilt=True, steady=True))
            L.append("")
    L.append("Notes:")
    L.append("")
    for n in PERFORMANCE_NOTES:
        L.append(f"- {n}")
    seen = []
    for ps in passes:
        for r in ps["rows"]:
            for n in r["notes"]:
                if n not in seen:
                    seen.append(n)
    for n in seen:
        L.append(f"- {n}.")
    L.append(
        "- `TransformedISQF.cdf`/`.crps`/`.sample` exist and are the timed GluonTS "
        "calls for those operations."
    )
    tp = meta.get("tail_probe")
    if tp:
        L.append(
            "- Tail precision (float32, 5 knots x 1 piece, the cdf at the quantile "
            f"of level {tp['level']:g}): ours {tp['ours']:.4g}, GluonTS "
            f"`TransformedISQF.cdf` {tp['gluonts_transformed']:.4g}, its base "
            f"`ISQF.cdf` {tp['gluonts_base']:.4g}. torch's "
            "`TransformedDistribution.cdf` returns `sign * (cdf - 0.5) + 0.5`, "
            "which rounds probabilities to multiples of ~6e-8 in float32 (~1e-16 "
            "in float64; the source of the ~1e-6 relative deviations of far-tail "
            "cdf values ~1e-12 in the float64 check below)."
        )
    L.append("")
    L.append(
        "Equivalence check (float64, same batch size, own seed): GluonTS's ISQF "
        "built from raw outputs (`ISQFOutput.domain_map` + `distribution`), our "
        "`IQF(knot_levels, knot_values, beta_l, beta_r, piece_widths, piece_heights, "
        "loc, scale)` built directly from the knot values `qk_y`, tail rates "
        "`beta_l`/`beta_r` and spline fractions `delta_sk_x / (qk_x_plus - qk_x)`, "
        "`delta_sk_y / (qk_y_plus - qk_y)` read off it (the two `domain_map`s "
        "differ: ours softplus with level-gap scaling, GluonTS abs). Targets: the "
        "distribution's own quantiles at uniform levels in [1e-6, 1 - 1e-6] "
        "(\"~ distribution\") and scale x 3 x N(0, 1) (\"wide\"). Tolerance "
        f"{CHECK_RTOL:g} relative (floored at 1e-8 x scale for values, 1e-12 for "
        "probabilities); \"quantile (9 levels expanded)\" checks that GluonTS's "
        "broadcast (9, 1, 1) call equals the call with levels expanded to "
        "(9, batch, steps)."
    )
    L.append("")
    L.append("| config | quantity | max rel. dev. | max abs. dev. | ok |")
    L.append("|---|---|---:|---:|:---:|")
    for c in checks:
        L.append(
            f"| {c['config']} | {c['quantity']} | {c['max_rel']:.1e} | "
            f"{c['max_abs']:.1e} | {'yes' if c['ok'] else '**no**'} |"
        )
    L.append("")
    L.append(f"Raw results (all timings, min/median, CPU time): `{output_path}`.")
    L.append("")
    return "\n".join(L)


def write_markdown(path: Path, section: str) -> None:
    """Rewrite our section of ``path`` (see ``_common.write_section``)."""
    write_section(path, SECTION, section)


def markdown_from_json(path: Path, markdown: str) -> int:
    """Rewrite the markdown section from a results JSON (see ``--from-json``)."""
    result = json.loads(path.read_text())
    meta = result["meta"]
    passes = []
    for k, ps in enumerate(result["passes"]):
        rows = result["results"] if k == 0 else result[f"results_{ps['threads']}_thread"]
        passes.append(dict(ps, rows=rows))
    base = load_baseline(meta["baseline"]["rev"]) if meta.get("baseline") else None
    write_markdown(
        Path(markdown),
        markdown_section(meta, passes, result["equivalence_check"], _rel(path), base),
    )
    print(f"wrote {markdown} ({SECTION}) from {path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        return markdown_from_json(args.from_json, args.markdown)
    if str(REPO) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(REPO))
    warnings.filterwarnings("ignore", message=".*does not define `support`.*")
    warnings.filterwarnings("ignore", message="Using `json`-module.*")
    import torch
    import gluonts

    threads = args.threads if args.threads is not None else torch.get_num_threads()
    torch.set_num_threads(threads)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)  # sampling
    passes_threads = [threads]
    if args.single_thread_pass and threads > 1 and not args.device.startswith("cuda"):
        passes_threads.append(1)

    argv_list = list(sys.argv[1:] if argv is None else argv)
    meta = dict(
        command=" ".join(["python", "benchmarks/bench_iqf.py", *map(shlex.quote, argv_list)]),
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        torch=torch.__version__,
        gluonts=gluonts.__version__,
        python=platform.python_version(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        threads=threads,
        passes_threads=passes_threads,
        device=args.device,
        batch=args.batch,
        steps=args.steps,
        repeats=args.repeats,
        seed=args.seed,
        dtype=args.dtype,
        steady_state=args.steady_state,
        target_speedup=TARGET_SPEEDUP,
        git=git_state(),
    )
    if args.device.startswith("cuda"):
        meta["gpu"] = torch.cuda.get_device_name(args.device)
    print(json.dumps(meta, indent=1))

    base = load_baseline(args.baseline)
    if base:
        meta["baseline"] = dict(rev=args.baseline, commit=base["commit"], date=base["date"])
    print("\nfloat64 equivalence check ...", flush=True)
    checks = check_equivalence(args.batch, args.steps, args.seed)
    meta["tail_probe"] = tail_probe(args.seed)
    print("timing ...", flush=True)
    passes = []
    for t in passes_threads:
        ps = dict(threads=t)
        on_cpu = not args.device.startswith("cuda")
        if on_cpu:
            numel = 256 * 48 * 181  # the 19 x 10 spline grid at default size
            ps.update(probe_numel=numel, probe_1_thread_ms=op_latency(1, numel),
                      probe_before_ms=op_latency(t, numel), load_before=loadavg())
        ps["rows"] = run_timings(args, dtype, t)
        if on_cpu:
            ps["probe_after_ms"] = op_latency(t, numel)
            ps["load_after"] = loadavg()
            worst = max(ps["probe_before_ms"], ps["probe_after_ms"])
            ps["degraded"] = t > 1 and worst > 3.0 * ps["probe_1_thread_ms"]
        else:
            ps["degraded"] = False
        passes.append(ps)
    torch.set_num_threads(threads)
    flag_thread_anomalies(passes)
    print_table(passes, checks)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = dict(
        meta=meta, results=passes[0]["rows"], equivalence_check=checks,
        passes=[{k: v for k, v in ps.items() if k != "rows"} for ps in passes],
    )
    for ps in passes[1:]:
        result[f"results_{ps['threads']}_thread"] = ps["rows"]
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.output}")
    if args.markdown:
        write_markdown(
            Path(args.markdown),
            markdown_section(meta, passes, checks, _rel(args.output), base),
        )
        print(f"wrote {args.markdown} ({SECTION})")

    failed = [c for c in checks if not c["ok"]]
    if failed:
        print(
            "\nEQUIVALENCE CHECK FAILED: "
            + "; ".join(f"{c['config']}: {c['quantity']} (max rel {c['max_rel']:.2e})"
                        for c in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
