"""MQF²: the multivariate quantile function as the gradient of a convex
potential (Kan et al., AISTATS 2022).

``ConvexQuantileMap`` is the distribution of ``Y = loc + scale * grad G(Z; h)``
with ``Z ~ N(0, I_d)`` and ``G`` a :class:`~gluonts_iqf.nn.PICNN`, convex in
its first argument. Its quantile map at ``u in (0, 1)^d`` is
``loc + scale * grad G(Phi^-1(u); h)``; samples come from ``Z ~ N(0, I)``;
``energy_score`` is the unbiased two-sample estimator; ``log_prob`` inverts
the map by solving the strongly convex problem ``min_z G(z) - <z, y>`` and
applies the change of variables ``log p(y) = log N(z*) - log det
grad^2 G(z*) - sum log scale``. The maths is in docs/methods.md, MQF²
section.
"""

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from gluonts.core.component import validated

from ..nn.picnn import PICNN

#: Largest event dimension for which ``log_prob`` uses the exact Hessian
#: (d vector-Jacobian products + slogdet); above it, Newton-CG inversion and
#: stochastic Lanczos quadrature are used.
EXACT_LOGDET_MAX_DIM = 64


class InversionWarning(UserWarning):
    """Some rows of ``ConvexQuantileMap.invert`` did not reach the tolerance."""


@dataclass
class InversionResult:
    """Result of :meth:`ConvexQuantileMap.invert`.

    z : (B, d) latent points; residual : (B,) max-abs ``grad G(z) - y``;
    converged : (B,) bool; iterations : int.
    """

    z: Tensor
    residual: Tensor
    converged: Tensor
    iterations: int


def _safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last axis whose gradient is 0 (not NaN) at
    the zero vector (fully masked rows): the squared norm is floored at the
    dtype's ``tiny`` before the square root."""
    return (v * v).sum(-1).clamp_min(torch.finfo(v.dtype).tiny).sqrt()


class _PairwiseDistanceSum(torch.autograd.Function):
    """``sum_{i != j} ||x_i - x_j||^beta`` per row: x (B, m, d) -> (B,).

    Forward: distances from the Gram matrix of the samples centred per row,
    (B, m, m) numbers instead of m (m - 1) / 2 difference vectors of size d;
    centring keeps ``|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>`` free of
    cancellation. Backward in closed form, ``d/dx_i = 2 sum_j w_ij (x_i -
    x_j)`` with ``w_ij = beta ||x_i - x_j||^(beta - 2)`` (0 on the diagonal
    and where the squared distance is below the dtype's ``tiny``, as the
    clamped forward), i.e. ``2 (rowsum(W) x - W x)``: one batched matmul
    instead of differentiating every (B, m, m) step of the forward.
    """

    @staticmethod
    def forward(ctx, x: Tensor, beta: float) -> Tensor:
        tiny = torch.finfo(x.dtype).tiny
        xc = x - x.mean(1, keepdim=True)
        sq = (xc * xc).sum(-1)
        # |x_i|^2 + |x_j|^2 - 2 <x_i, x_j>, (B, m, m)
        gram = torch.baddbmm(sq.unsqueeze(-1) + sq.unsqueeze(-2), xc, xc.transpose(1, 2), alpha=-2.0)
        dist = gram.clamp_min(tiny).sqrt()
        powered = dist if beta == 1.0 else dist.pow(beta)
        total = powered.sum((-1, -2)) - powered.diagonal(dim1=-2, dim2=-1).sum(-1)
        ctx.beta = beta
        ctx.save_for_backward(xc, gram, dist)
        return total

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        xc, gram, dist = ctx.saved_tensors
        beta = ctx.beta
        tiny = torch.finfo(xc.dtype).tiny
        w = dist.reciprocal() if beta == 1.0 else beta * dist.pow(beta - 2.0)
        w = w.masked_fill(gram <= tiny, 0.0)
        w.diagonal(dim1=-2, dim2=-1).zero_()
        w = w * (2.0 * grad_out).view(-1, 1, 1)
        # the gradient of a translation-invariant function sums to zero over
        # the samples, so the centring's backward (subtract the mean) is the
        # identity here
        grad = torch.baddbmm(w.sum(-1, keepdim=True) * xc, w, xc, alpha=-1.0)
        return grad, None


def energy_score_samples(
    samples: Tensor, y: Tensor, beta: float = 1.0, mask: Optional[Tensor] = None
) -> Tensor:
    """Unbiased energy score from ``m`` samples.

    ``ES = mean_i ||X_i - y||^beta - 1 / (2 m (m - 1)) sum_{i != j}
    ||X_i - X_j||^beta``.

    samples : (m, B, d); y : (B, d); mask : (B, d) of 0/1, optional -> (B,).
    With a mask, both norms run over the observed coordinates only: the
    energy score of the observed marginal, still strictly proper for it.
    ``beta`` in (0, 2).
    """
    m = samples.shape[0]
    if m < 2:
        raise ValueError(f"the energy score needs at least 2 samples, got {m}")
    diff = samples - y.unsqueeze(0)
    if mask is not None:
        diff = diff * mask
    norm = _safe_norm(diff)
    first = (norm if beta == 1.0 else norm.pow(beta)).mean(0)
    x = samples.transpose(0, 1)  # (B, m, d)
    if mask is not None:
        x = x * mask.unsqueeze(1)
    off_diagonal = _PairwiseDistanceSum.apply(x, float(beta))
    return first - off_diagonal / (2 * m * (m - 1))


def _cg(hvp: Callable[[Tensor], Tensor], b: Tensor, max_iter: int, tol: float) -> Tensor:
    """Batched conjugate gradient for SPD systems ``H x = b``; b (B, d)."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = (r * r).sum(-1, keepdim=True)
    for _ in range(max_iter):
        Hp = hvp(p)
        alpha = rs / (p * Hp).sum(-1, keepdim=True).clamp_min(torch.finfo(b.dtype).tiny)
        x = x + alpha * p
        r = r - alpha * Hp
        rs_new = (r * r).sum(-1, keepdim=True)
        if bool((rs_new.sqrt() <= tol).all()):
            break
        p = r + (rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny)) * p
        rs = rs_new
    return x


def slq_logdet(
    hvp: Callable[[Tensor], Tensor],
    shape: Tuple[int, int],
    num_probes: int = 10,
    num_steps: int = 30,
    generator: Optional[torch.Generator] = None,
    dtype=torch.float32,
    device=None,
) -> Tensor:
    """Stochastic Lanczos quadrature estimate of ``log det H`` per row.

    hvp : maps (B, d) -> (B, d), the product with an SPD matrix per row;
    shape : (B, d). Rademacher probes; returns (B,). Its error falls like
    ``1 / sqrt(num_probes)`` (Ubaru, Chen and Saad, 2017).
    """
    B, d = shape
    steps = min(num_steps, d)
    total = torch.zeros(B, dtype=dtype, device=device)
    for _ in range(num_probes):
        v = torch.randint(0, 2, (B, d), generator=generator, dtype=torch.int64).to(device=device, dtype=dtype) * 2 - 1
        q = v / math.sqrt(d)
        q_prev = torch.zeros_like(q)
        alphas, betas = [], []
        beta_prev = torch.zeros(B, dtype=dtype, device=device)
        Q = [q]
        for k in range(steps):
            w = hvp(q)
            alpha = (q * w).sum(-1)
            w = w - alpha.unsqueeze(-1) * q - beta_prev.unsqueeze(-1) * q_prev
            # full re-orthogonalisation keeps the small Lanczos basis stable
            for qq in Q:
                w = w - (w * qq).sum(-1, keepdim=True) * qq
            beta = torch.linalg.vector_norm(w, dim=-1)
            alphas.append(alpha)
            if k < steps - 1:
                betas.append(beta)
                q_prev, q = q, w / beta.clamp_min(torch.finfo(dtype).tiny).unsqueeze(-1)
                Q.append(q)
                beta_prev = beta
        T = torch.diag_embed(torch.stack(alphas, -1))
        if betas:
            off = torch.stack(betas, -1)
            T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
        theta, vecs = torch.linalg.eigh(T)
        tau2 = vecs[:, 0, :] ** 2
        total = total + d * (tau2 * torch.log(theta.clamp_min(torch.finfo(dtype).tiny))).sum(-1)
    return total / num_probes


#: Values per block of rows in :meth:`ConvexQuantileMap.sample_paths`
#: (2**17 float32 values = 512 KiB per temporary: cache-resident).
SAMPLE_BLOCK_ELEMENTS = 2**17


class ConvexQuantileMap(Distribution):
    """Distribution of ``loc + scale * grad G(Z; h)``, ``Z ~ N(0, I_d)``.

    Parameters
    ----------
    picnn : PICNN
        The convex potential ``G`` (its ``dim`` is the event size ``d``).
    context : Tensor, shape (*batch_shape, context_dim)
        Conditioning ``h`` of each batch element.
    loc, scale : Tensor, shape broadcastable to (*batch_shape, d), optional
        Affine map to data units (scale positive).
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        picnn: PICNN,
        context: Tensor,
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
        validate_args: Optional[bool] = False,
    ) -> None:
        self.picnn = picnn
        self.context = context
        d = picnn.dim
        batch_shape = context.shape[:-1]
        like = context
        self.loc = torch.zeros((), dtype=like.dtype, device=like.device) if loc is None else loc
        self.scale = torch.ones((), dtype=like.dtype, device=like.device) if scale is None else scale
        self.loc = self.loc.expand(*batch_shape, d)
        self.scale = self.scale.expand(*batch_shape, d)
        super().__init__(batch_shape=batch_shape, event_shape=torch.Size([d]), validate_args=validate_args)

    # -------------------------------------------------------------- helpers
    @property
    def dim(self) -> int:
        return self.picnn.dim

    def _flat_context(self) -> Tensor:
        """Context rows, (B, h) with B the flattened batch."""
        return self.context.reshape(-1, self.context.shape[-1])

    def _map(self, z: Tensor) -> Tensor:
        """z (*S, *batch, d) in latent space -> data units, same shape; the
        PICNN's context terms are computed once per batch element."""
        shape = z.shape
        B = math.prod(self.batch_shape)
        g = self.picnn.gradient(z.reshape(-1, B, self.dim), self._flat_context())
        return self.loc + self.scale * g.reshape(shape)

    def _standardize(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def _check_exact(self, exact: Optional[bool]) -> bool:
        """Default: exact Hessians up to EXACT_LOGDET_MAX_DIM, the stochastic
        path above; forcing exact above it is refused (cost d^3 per row)."""
        if exact is None:
            return self.dim <= EXACT_LOGDET_MAX_DIM
        if exact and self.dim > EXACT_LOGDET_MAX_DIM:
            raise ValueError(
                f"exact log-determinant requested for d={self.dim} > "
                f"EXACT_LOGDET_MAX_DIM={EXACT_LOGDET_MAX_DIM}: it needs d "
                "backward passes and an O(d^3) factorisation per row; use "
                "exact=False (stochastic Lanczos quadrature) or the default"
            )
        return bool(exact)

    # -------------------------------------------------------------- API
    def quantile(self, u: Tensor) -> Tensor:
        """Quantile map at ``u in (0, 1)^d``: u (*S, *batch_shape, d) ->
        same shape. Monotone: ``<Q(u) - Q(v), Phi^-1(u) - Phi^-1(v)> >= 0``."""
        u = torch.as_tensor(u, dtype=self.context.dtype, device=self.context.device)
        if not bool(((u > 0) & (u < 1)).all()):
            raise ValueError("levels u of the multivariate quantile map must lie in (0, 1)")
        u = u.expand(torch.broadcast_shapes(u.shape, self.batch_shape + self.event_shape))
        return self._map(torch.special.ndtri(u))

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        """Joint samples, shape (*sample_shape, *batch_shape, d)."""
        shape = self._extended_shape(torch.Size(sample_shape))
        z = torch.randn(shape, dtype=self.context.dtype, device=self.context.device)
        return self._map(z)

    def sample_paths(self, num_samples: int) -> Tensor:
        """Joint samples in forecast layout, shape (*batch_shape, num_samples,
        d): the same distribution as :meth:`rsample` (differentiable too),
        drawn as ``Z`` (B, num_samples, d) so that the PICNN runs batch
        first (its quadratic term as batched products) and no transposed
        copy of the paths is made. Rows are processed in blocks of about
        ``SAMPLE_BLOCK_ELEMENTS`` values, so the temporaries stay in cache."""
        B = math.prod(self.batch_shape)
        d = self.dim
        ctx = self._flat_context()
        loc = self.loc.reshape(B, 1, d)
        scale = self.scale.reshape(B, 1, d)
        rows = max(1, SAMPLE_BLOCK_ELEMENTS // max(num_samples * d, 1))
        out = None if torch.is_grad_enabled() else ctx.new_empty(B, num_samples, d)
        parts = []
        for i in range(0, B, rows):
            j = min(i + rows, B)
            z = torch.randn(j - i, num_samples, d, dtype=ctx.dtype, device=ctx.device)
            g = self.picnn.gradient(z, ctx[i:j], batch_first=True)
            if out is None:
                parts.append(torch.addcmul(loc[i:j], scale[i:j], g))
            else:
                torch.addcmul(loc[i:j], scale[i:j], g, out=out[i:j])
        paths = out if out is not None else torch.cat(parts, 0)
        return paths.reshape(*self.batch_shape, num_samples, d)

    def energy_score(
        self, y: Tensor, num_samples: int = 50, beta: float = 1.0, mask: Optional[Tensor] = None
    ) -> Tensor:
        """Unbiased energy score of observations ``y`` (*batch_shape, d) in
        data units, from ``num_samples`` joint samples: shape batch_shape.
        ``mask`` (same shape as y, 0 = missing) scores the observed
        marginal only."""
        if not 0 < beta < 2:
            raise ValueError(f"beta must lie in (0, 2) for a strictly proper score, got {beta}")
        samples = self.rsample((num_samples,))
        B = math.prod(self.batch_shape)
        flat_mask = None if mask is None else mask.reshape(B, self.dim).to(samples.dtype)
        es = energy_score_samples(
            samples.reshape(num_samples, B, self.dim), y.reshape(B, self.dim), beta, flat_mask
        )
        return es.reshape(self.batch_shape)

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(
            "the mean of ConvexQuantileMap has no closed form; use "
            "sample((n,)).mean(0)"
        )

    def invert(
        self,
        y: Tensor,
        tol: float = 1e-6,
        max_iter: int = 50,
        exact: Optional[bool] = None,
    ) -> InversionResult:
        """Latent ``z`` with ``grad G(z) = (y - loc) / scale`` by damped
        Newton on the strongly convex ``G(z) - <z, y>``.

        y : (*batch_shape, d). ``exact`` (default: d <= EXACT_LOGDET_MAX_DIM)
        solves each Newton system with the exact Hessian, otherwise with
        conjugate gradients on Hessian-vector products. Rows whose residual
        ``max |grad G(z) - y|`` exceeds ``tol * (1 + max |y|)`` after
        ``max_iter`` steps are reported in ``converged`` and by an
        :class:`InversionWarning`.
        """
        exact = self._check_exact(exact)
        B = math.prod(self.batch_shape)
        target = self._standardize(y).reshape(B, self.dim).detach()
        h = self._flat_context().detach()
        G = self.picnn
        thresh = tol * (1.0 + target.abs().amax(-1))
        with torch.no_grad():
            z = target / G.mu  # exact for the quadratic part alone
            it = 0
            for it in range(1, max_iter + 1):
                r = G.gradient(z, h) - target
                res = r.abs().amax(-1)
                if bool((res <= thresh).all()):
                    it -= 1
                    break
                if exact:
                    step = torch.linalg.solve(G.hessian(z, h), r.unsqueeze(-1)).squeeze(-1)
                else:
                    hvp = lambda v: torch.func.jvp(lambda zz: G.gradient(zz, h), (z,), (v,))[1]
                    step = _cg(hvp, r, max_iter=self.dim, tol=1e-10)
                f0 = G(z, h) - (z * target).sum(-1)
                slope = (r * step).sum(-1)
                t = torch.ones(B, 1, dtype=z.dtype, device=z.device)
                for _ in range(30):  # backtracking (Armijo) per row
                    z_new = z - t * step
                    ok = (G(z_new, h) - (z_new * target).sum(-1)) <= f0 - 0.25 * t.squeeze(-1) * slope
                    if bool(ok.all()):
                        break
                    t = torch.where(ok.unsqueeze(-1), t, 0.5 * t)
                z = z - t * step
            res = (G.gradient(z, h) - target).abs().amax(-1)
        converged = res <= thresh
        if not bool(converged.all()):
            warnings.warn(
                f"ConvexQuantileMap.invert: {int((~converged).sum())} of {B} rows "
                f"did not converge in {max_iter} Newton steps (max residual "
                f"{float(res.max()):.3g})",
                InversionWarning,
                stacklevel=2,
            )
        return InversionResult(z=z.reshape(*self.batch_shape, self.dim), residual=res.reshape(self.batch_shape), converged=converged.reshape(self.batch_shape), iterations=it)

    def log_prob(
        self,
        y: Tensor,
        exact: Optional[bool] = None,
        num_probes: int = 10,
        tol: float = 1e-6,
        max_iter: int = 50,
    ) -> Tensor:
        """Log density of ``y`` (*batch_shape, d), shape batch_shape.

        ``exact`` (default d <= EXACT_LOGDET_MAX_DIM): exact Hessian and
        ``slogdet``; otherwise stochastic Lanczos quadrature with
        ``num_probes`` probes. Differentiable in the PICNN's parameters by
        the implicit function theorem: one Newton step from the (detached)
        solution carries the exact derivative of ``z*``; for the stochastic
        estimate the log-determinant's gradient uses the unbiased surrogate
        ``v^T H stopgrad(H^-1 v)`` with conjugate gradients.
        """
        exact = self._check_exact(exact)
        B, d = math.prod(self.batch_shape), self.dim
        G = self.picnn
        inv = self.invert(y, tol=tol, max_iter=max_iter, exact=exact)
        z0 = inv.z.reshape(B, d).detach()
        h = self._flat_context()
        target = self._standardize(y).reshape(B, d)
        # implicit differentiation: z = z0 - H^-1 (grad G(z0) - y), value z0
        resid = G.gradient(z0, h) - target
        if exact:
            H0 = G.hessian(z0, h.detach()).detach()
            z = z0 - torch.linalg.solve(H0, resid.unsqueeze(-1)).squeeze(-1)
            logdet = torch.linalg.slogdet(G.hessian(z, h))[1]
        else:
            hvp0 = lambda v: torch.func.jvp(lambda zz: G.gradient(zz, h.detach()), (z0,), (v,))[1].detach()
            z = z0 - _cg(hvp0, resid, max_iter=d, tol=1e-8)
            with torch.no_grad():
                value = slq_logdet(hvp0, (B, d), num_probes=num_probes, dtype=z0.dtype, device=z0.device)
            # surrogate with the estimator's value and an unbiased gradient
            probes = torch.randint(0, 2, (num_probes, B, d), device=z0.device).to(z0.dtype) * 2 - 1
            surrogate = 0.0
            for v in probes:
                w = _cg(hvp0, v, max_iter=d, tol=1e-8).detach()
                Hv = torch.func.jvp(lambda zz: G.gradient(zz, h), (z,), (v,))[1]
                surrogate = surrogate + (w * Hv).sum(-1) / num_probes
            logdet = value + surrogate - surrogate.detach()
        log_normal = -0.5 * (z * z).sum(-1) - 0.5 * d * math.log(2 * math.pi)
        log_scale = torch.log(self.scale).reshape(B, d).sum(-1)
        return (log_normal - logdet - log_scale).reshape(self.batch_shape)


class ConvexQuantileOutput:
    """Settings and losses of the MQF² head (the analogue of a GluonTS
    ``DistributionOutput`` for a distribution that owns a network).

    Parameters
    ----------
    dim
        Event dimension ``d`` (horizon, series, or series x horizon).
    hidden_dim, num_layers, context_hidden_dim
        PICNN size.
    loss
        ``"energy"`` (default; energy score with ``es_num_samples`` samples
        and exponent ``beta``) or ``"nll"`` (maximum likelihood).
    es_num_samples, beta
        Energy-score estimator settings.
    quadratic_share
        Share of the PICNN's initial slope given to its low-rank quadratic
        term (:class:`~gluonts_iqf.nn.PICNN`; 0, the default here, is the
        small random start of earlier versions; ``MQF2Estimator`` passes
        its own default).
    """

    @validated()
    def __init__(
        self,
        dim: int,
        hidden_dim: int = 32,
        num_layers: int = 2,
        context_hidden_dim: int = 32,
        loss: str = "energy",
        es_num_samples: int = 50,
        beta: float = 1.0,
        quadratic_share: float = 0.0,
    ) -> None:
        if loss not in ("energy", "nll"):
            raise ValueError(f"loss must be 'energy' or 'nll', got {loss!r}")
        if es_num_samples < 2:
            raise ValueError(f"es_num_samples must be >= 2, got {es_num_samples}")
        if not 0 < beta < 2:
            raise ValueError(f"beta must lie in (0, 2), got {beta}")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not 0.0 <= quadratic_share < 1.0:
            raise ValueError(f"quadratic_share must lie in [0, 1), got {quadratic_share}")
        self.dim = dim
        self.quadratic_share = quadratic_share
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.context_hidden_dim = context_hidden_dim
        self.loss_name = loss
        self.es_num_samples = es_num_samples
        self.beta = beta

    @property
    def event_shape(self) -> Tuple[int]:
        return (self.dim,)

    def make_picnn(self, context_dim: int) -> PICNN:
        """The potential network for contexts of size ``context_dim``."""
        return PICNN(
            self.dim, context_dim, hidden_dim=self.hidden_dim,
            num_layers=self.num_layers, context_hidden_dim=self.context_hidden_dim,
            quadratic_share=self.quadratic_share,
        )

    def distribution(
        self, picnn: PICNN, context: Tensor, loc: Optional[Tensor] = None, scale: Optional[Tensor] = None
    ) -> ConvexQuantileMap:
        return ConvexQuantileMap(picnn, context, loc=loc, scale=scale)

    def loss(
        self,
        target: Tensor,
        picnn: PICNN,
        context: Tensor,
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
        observed: Optional[Tensor] = None,
    ) -> Tensor:
        """Per-element loss, shape batch_shape, in scaled units (the energy
        score of the standardised target, or the negative log density of it),
        so that series of any magnitude weigh alike.

        target : (*batch_shape, d); observed : same shape, 0 where missing.
        Missing entries are masked: the energy score is that of the
        observed marginal; for ``"nll"`` rows with a missing entry are dropped
        (the joint density needs all d values).
        """
        distr = ConvexQuantileMap(picnn, context)
        z = target if loc is None else target - loc
        z = z if scale is None else z / scale
        finite = torch.isfinite(z)
        if observed is not None:
            finite = finite & (observed > 0)
        z = torch.where(finite, z, 0.0)
        if self.loss_name == "energy":
            mask = None if bool(finite.all()) else finite
            return distr.energy_score(z, self.es_num_samples, self.beta, mask=mask)
        complete = finite.all(-1)
        nll = -distr.log_prob(z)
        return torch.where(complete, nll, 0.0)
