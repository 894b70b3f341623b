"""Partially input-convex neural network (PICNN) with a closed-form gradient.

``PICNN`` computes a potential ``G(x; h)`` that is convex in ``x`` (shape
(B, d)) for every context ``h`` (shape (B, h_dim)), following Amos et al.
(2017) and CP-Flow (Huang et al., 2021) as used by MQF² (Kan et al., 2022):

* first layer ``z_1 = s(W_0 x + b_0)`` with the symmetric Gaussian softplus
  ``s(u) = g(u) - u / 2``, ``g(u) = u Phi(u) + phi(u)`` (convex);
* hidden layers ``z_{l+1} = g(P_l (z_l * softplus(A_l c + a_l)) +
  B_l (x * (C_l c + 1)) + D_l c + d_l)`` with non-negative ``P_l``
  (softplus of a free weight) and ``g`` convex and non-decreasing;
* output ``G = P_L (z_L * softplus(A_L c + a_L)) + B_L (x * (C_L c + 1)) +
  D_L c + (mu / 2) ||x||^2`` with ``mu = softplus(w) + MIN_CONVEXITY``,
  a strong-convexity term that makes ``grad G`` invertible;
* a low-rank positive semi-definite quadratic ``(1 / 2) ||L(c)^T x||^2``
  with ``L(c) = L_0 + reshape(F c)`` of shape (d, rank): it keeps ``G``
  convex and lets the gradient map carry linear dependence across the d
  coordinates directly (a Gaussian with covariance ``A A^T`` is
  ``grad G = A x``), which the softplus units alone represent poorly;
* a linear term ``offset^T x`` (a location shift of the gradient map);
* ``c = ELU(E h)``; the context projections ``A, C, D, F`` start at zero, so
  training starts from an unconditional map.

``gradient`` returns ``grad_x G`` by an explicit backward pass written as a
forward computation: the quantile map costs one pass and training needs no
double back-propagation. ``hessian`` gives the exact (B, d, d) Hessian.
No GluonTS imports here.
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Floor of the strong-convexity coefficient ``mu``: keeps ``grad G``
#: invertible and its Hessian's smallest eigenvalue >= MIN_CONVEXITY.
MIN_CONVEXITY = 1e-3

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gaussian_softplus_and_slope(u: Tensor, shift: float) -> Tuple[Tensor, Tensor]:
    """``(g(u) - shift * u, Phi(u) - shift)`` sharing ``Phi(u)``: the value
    and the slope of the shifted Gaussian softplus ``g(u) = u Phi(u) + phi(u)
    = E[relu(u + eps)]``, eps ~ N(0, 1) (smooth, convex, increasing)."""
    Phi = torch.special.ndtr(u)
    slope = Phi - shift if shift else Phi
    return u * slope + _INV_SQRT_2PI * torch.exp(-0.5 * u * u), slope


def gaussian_softplus(u: Tensor) -> Tensor:
    """``g(u) = u Phi(u) + phi(u)``, see :func:`_gaussian_softplus_and_slope`."""
    return _gaussian_softplus_and_slope(u, 0.0)[0]


#: Output widths for which :func:`_matmul_narrow` computes ``a @ W`` as
#: ``(W^T @ a^T)^T``: on CPU, oneDNN's product with a narrow output (2..8
#: columns) is several times slower than the transposed product; wider
#: outputs favour the plain product.
_NARROW_MAX = 8


def _matmul_narrow(a: Tensor, W: Tensor) -> Tensor:
    """``a @ W`` for a (..., w) and W (w, d): for 2 <= d <= ``_NARROW_MAX``
    on CPU computed as the transposed product (result a transposed view of
    shape (..., d), equal up to float rounding)."""
    d = W.shape[-1]
    if a.device.type != "cpu" or not 2 <= d <= _NARROW_MAX or a.dim() < 2:
        return a @ W
    lead = a.shape[:-1]
    return (W.T @ a.reshape(-1, a.shape[-1]).T).T.reshape(*lead, d)


class PICNN(nn.Module):
    """Potential ``G(x; h)``, convex in ``x``.

    Parameters
    ----------
    dim
        Dimension ``d`` of the convex input ``x``.
    context_dim
        Dimension of the context ``h`` (0 for an unconditional potential).
    hidden_dim
        Width of every hidden layer.
    num_layers
        Number of hidden layers (>= 1).
    context_hidden_dim
        Width of the context embedding ``c``.
    rank
        Rank of the PSD quadratic term (0 disables it; default ``min(dim,
        16)``).
    quadratic_share
        Share of the initial slope of the map given to the quadratic term by
        :meth:`init_from_data` (in [0, 1); 0, the default, keeps its small
        random start). The term's Jacobian in ``L`` is proportional to ``L``
        itself, so from a small start the energy score barely moves it and
        the map stays close to ``mu I``, without dependence; a large share
        starts ``L L^T`` as a sizeable isotropic matrix whose every entry
        the score can shape.
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        hidden_dim: int = 32,
        num_layers: int = 2,
        context_hidden_dim: int = 32,
        rank: Optional[int] = None,
        quadratic_share: float = 0.0,
    ) -> None:
        super().__init__()
        if dim < 1 or num_layers < 1 or hidden_dim < 1:
            raise ValueError(
                f"PICNN needs dim, hidden_dim, num_layers >= 1, got {dim}, "
                f"{hidden_dim}, {num_layers}"
            )
        if not 0.0 <= quadratic_share < 1.0:
            raise ValueError(f"quadratic_share must lie in [0, 1), got {quadratic_share}")
        self.quadratic_share = float(quadratic_share)
        self.dim, self.context_dim = dim, context_dim
        self.num_layers = num_layers
        ch = context_hidden_dim if context_dim > 0 else 0
        self.context_net = nn.Linear(context_dim, ch) if context_dim > 0 else None
        self.first = nn.Linear(dim, hidden_dim)
        widths = [hidden_dim] * num_layers + [1]
        # z-path (non-negative after softplus), x-path, context gates/biases
        self.P = nn.ParameterList()
        self.B = nn.ModuleList()
        self.A = nn.ModuleList()
        self.C = nn.ModuleList()
        self.D = nn.ModuleList()
        for l in range(num_layers):
            w_in, w_out = widths[l], widths[l + 1]
            # softplus(raw) / fan_in keeps the z-path's scale independent of width
            self.P.append(nn.Parameter(torch.randn(w_out, w_in) * 0.1 - 1.0))
            self.B.append(nn.Linear(dim, w_out, bias=False))
            self.A.append(nn.Linear(ch, w_in) if ch else None)
            self.C.append(nn.Linear(ch, dim) if ch else None)
            self.D.append(nn.Linear(ch, w_out) if ch else None)
        for mods in (self.A, self.C, self.D):
            for m in mods:
                if m is not None:  # start from the unconditional map
                    nn.init.zeros_(m.weight)
                    nn.init.zeros_(m.bias)
        self.gate_bias = nn.ParameterList(
            [nn.Parameter(torch.full((widths[l],), math.log(math.e - 1.0))) for l in range(num_layers)]
        )
        self.out_bias = nn.ParameterList(
            [nn.Parameter(torch.zeros(widths[l + 1])) for l in range(num_layers)]
        )
        # The last layer's bias (its context part D and out_bias) adds a
        # constant in x to the scalar potential: the quantile map (the
        # gradient) and its log-determinant never depend on it, so it gets no
        # gradient and is not trained (data-parallel training requires every
        # trained parameter to be used). Kept for the potential's value and
        # for saved state.
        self.out_bias[-1].requires_grad_(False)
        if self.D[-1] is not None:
            self.D[-1].requires_grad_(False)
        self.convexity = nn.Parameter(torch.tensor(math.log(math.e - 1.0)))  # mu = 1 at init
        self.offset = nn.Parameter(torch.zeros(dim))
        self.rank = min(dim, 16) if rank is None else rank
        if self.rank:
            # small random start: at L = 0 the quadratic's gradient in L vanishes
            self.L0 = nn.Parameter(torch.randn(dim, self.rank) * (0.1 / math.sqrt(dim)))
            self.L_ctx = nn.Linear(ch, dim * self.rank) if ch else None
            if self.L_ctx is not None:
                nn.init.zeros_(self.L_ctx.weight)
                nn.init.zeros_(self.L_ctx.bias)

    # ------------------------------------------------------------------ #
    def _context(self, h: Tensor) -> Tensor:
        if self.context_net is None:
            return h.new_zeros(h.shape[0], 0)
        return F.elu(self.context_net(h))

    def _positive(self, l: int) -> Tensor:
        W = self.P[l]
        return F.softplus(W) / W.shape[1]

    def _layer_terms(self, c: Tensor, l: int, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Gate (B, w_in), x multiplier (B, d) and context bias (B, w_out):
        computed once per context row and broadcast over x's sample dims."""
        B_ = c.shape[0]
        if self.A[l] is not None:
            gate = F.softplus(self.A[l](c) + self.gate_bias[l])
            xmul = self.C[l](c) + 1.0
            bias = self.D[l](c) + self.out_bias[l]
        else:
            gate = F.softplus(self.gate_bias[l]).expand(B_, -1)
            xmul = x.new_ones(B_, self.dim)
            bias = self.out_bias[l].expand(B_, -1)
        return gate, xmul, bias

    def _low_rank(self, c: Tensor, batch: int) -> Optional[Tensor]:
        """L(c), shape (B, d, rank), or None without the quadratic term."""
        if not self.rank:
            return None
        L = self.L0.expand(batch, -1, -1)
        if self.L_ctx is not None:
            L = L + self.L_ctx(c).reshape(batch, self.dim, self.rank)
        return L

    @property
    def mu(self) -> Tensor:
        """Strong-convexity coefficient (scalar tensor)."""
        return F.softplus(self.convexity) + MIN_CONVEXITY

    def _forward_cache(self, x: Tensor, h: Tensor):
        """Shared forward pass: potential (B,) and what the gradient needs."""
        c = self._context(h)
        u = self.first(x)  # (B, H)
        z = gaussian_softplus(u) - 0.5 * u
        cache: List[tuple] = []
        for l in range(self.num_layers):
            gate, xmul, bias = self._layer_terms(c, l, x)
            P = self._positive(l)
            pre = (z * gate) @ P.T + self.B[l](x * xmul) + bias
            cache.append((gate, xmul, P, pre))
            if l < self.num_layers - 1:
                z = gaussian_softplus(pre)
            else:
                out = pre.squeeze(-1)
        potential = out + 0.5 * self.mu * (x * x).sum(-1) + x @ self.offset
        L = self._low_rank(c, c.shape[0])
        Ltx = None
        if L is not None:
            Ltx = torch.einsum("bdr,...bd->...br", L, x)
            potential = potential + 0.5 * (Ltx * Ltx).sum(-1)
        return potential, u, cache, L, Ltx

    @torch.no_grad()
    def init_from_data(self, y: Tensor) -> None:
        """Data-dependent start (as ActNorm in CP-Flow / GluonTS's MQF²): make
        the initial map ``grad G(z) ~ offset + (mu I + L_0 L_0^T) z`` match
        the location and spread of standardised targets ``y`` (N, d):
        ``offset`` = median per coordinate, spread ``s`` = 1.4826 x median
        absolute deviation (robust to the outliers a short scaling history
        produces). With ``quadratic_share`` ``q > 0``, ``mu = (1 - q) s``
        and ``L_0`` becomes its random start orthonormalised and scaled to
        ``L_0 L_0^T = q s (d / r) Q Q^T`` (``q s I`` at full rank, isotropic
        on average below); with ``q = 0``, ``mu = s`` and ``L_0`` is its
        small random start times ``sqrt(s)``. Non-finite entries are
        ignored; without any finite entry nothing changes."""
        if not bool(torch.isfinite(y).any()):
            return
        y = torch.where(torch.isfinite(y), y, float("nan"))
        med = torch.nanmedian(y, dim=0).values
        med = torch.where(torch.isfinite(med), med, torch.nanmedian(y))
        mad = torch.nanmedian((y - med).abs())
        spread = (1.4826 * mad).clamp_min(10 * MIN_CONVEXITY)
        share = self.quadratic_share if self.rank else 0.0
        # mu = softplus(w) + MIN_CONVEXITY: the softplus part must stay
        # positive for its inverse to exist, hence mu >= 2 MIN_CONVEXITY
        x = ((1.0 - share) * spread).clamp_min(2 * MIN_CONVEXITY) - MIN_CONVEXITY
        self.offset.copy_(med)
        self.convexity.copy_(x + torch.log(-torch.expm1(-x)))  # inverse softplus, stable
        if self.rank and share:
            Q = torch.linalg.qr(self.L0).Q  # (d, r), orthonormal columns
            self.L0.copy_(Q * torch.sqrt(share * spread * self.dim / self.rank))
        elif self.rank:
            self.L0.mul_(spread.sqrt())

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """Potential ``G(x; h)``: x (*S, B, d), h (B, h_dim) -> (*S, B).

        Leading sample dims of ``x`` share their context row: the
        context-dependent terms are computed once per row of ``h``."""
        return self._forward_cache(x, h)[0]

    def gradient(self, x: Tensor, h: Tensor, batch_first: bool = False) -> Tensor:
        """``grad_x G(x; h)``: x (*S, B, d), h (B, h_dim) -> (*S, B, d), by
        an explicit backward pass (differentiable with one ordinary
        backward). With ``batch_first=True`` x is (B, S, d) (the sample
        dim after the context rows; the layout forecasts are returned in)
        and so is the result.

        Only what the gradient needs is evaluated: the potential itself and
        the output layer's pre-activation are never formed; the output
        layer is linear, so its back-propagated terms ``P_L^T 1 * gate_L``
        and ``B_L^T 1 * xmul_L`` depend on the context only and are computed
        once per row of ``h``, as is the constant part ``offset + B_L^T 1 *
        xmul_L`` of the gradient; ``g'(u) = Phi(u)`` of every hidden layer
        is computed once in the forward pass; the PSD quadratic contributes
        ``L L^T x``: with ``L L^T`` (B, d, d) formed once per context row
        (batch first: one batched product, no transposed copies of x), or,
        batch first with rank r < d / 2, as two batched products through
        ``L^T x`` (fewer operations than the (d, d) product).
        """
        if batch_first and x.dim() != 3:
            raise ValueError(f"batch_first gradient needs x of shape (B, S, d), got {tuple(x.shape)}")
        c = self._context(h)
        nL = self.num_layers
        terms = [self._layer_terms(c, l, x) for l in range(nL)]
        if batch_first:  # per-row terms (B, w) broadcast over the sample dim
            terms = [tuple(t.unsqueeze(1) for t in ts) for ts in terms]
        u = self.first(x)  # (*S, B, H)
        # first layer: z = g(u) - u / 2, dz/du = Phi(u) - 1/2
        z, dz = _gaussian_softplus_and_slope(u, 0.5)
        slopes = [dz]  # dz_l / d(its pre-activation), l = 0 .. nL - 1
        for l in range(nL - 1):  # hidden layers; the output layer is linear
            gate, xmul, bias = terms[l]
            pre = (z * gate) @ self._positive(l).T + self.B[l](x * xmul) + bias
            if l < nL - 2:
                z, dz = _gaussian_softplus_and_slope(pre, 0.0)
            else:  # only g'(pre) = Phi(pre) is needed from the last one
                dz = torch.special.ndtr(pre)
            slopes.append(dz)
        # output layer: dG / dz_{L-1} and its x-path, per context row (B, .)
        gate, xmul, _ = terms[nL - 1]
        P_out = self._positive(nL - 1)  # (1, w_in)
        # batch first (sampling) fuses the sums into addcmul; the sample-first
        # path (training, energy score, inversion) keeps its operation order,
        # so training runs round exactly as in the recorded benchmarks
        if batch_first:
            const = self.offset + self.B[nL - 1].weight.sum(0) * xmul  # per row
            grad_x = torch.addcmul(const, x, self.mu)  # mu x + const, one pass
        else:
            grad_x = self.mu * x + self.offset + self.B[nL - 1].weight.sum(0) * xmul
        delta = P_out.sum(0) * gate  # dG / dz_{L-1}, broadcast over samples
        for l in reversed(range(nL - 1)):
            delta = delta * slopes[l + 1]  # dG / d pre_l
            gate_l, xmul_l, _ = terms[l]
            if batch_first:
                grad_x = torch.addcmul(grad_x, _matmul_narrow(delta, self.B[l].weight), xmul_l)
            else:
                grad_x = grad_x + (delta @ self.B[l].weight) * xmul_l
            delta = (delta @ self._positive(l)) * gate_l  # dG / dz_l
        if batch_first:
            grad_x = grad_x + _matmul_narrow(delta * slopes[0], self.first.weight)
        else:
            grad_x = grad_x + (delta * slopes[0]) @ self.first.weight
        L = self._low_rank(c, c.shape[0])
        if L is not None:
            if batch_first and 2 * self.rank < self.dim:  # two thin products
                grad_x = torch.baddbmm(grad_x, torch.bmm(x, L), L.transpose(1, 2))
            elif batch_first:  # one (d, d) product is cheaper
                grad_x = torch.baddbmm(grad_x, x, L @ L.transpose(1, 2))
            else:
                M = L @ L.transpose(1, 2)  # (B, d, d), symmetric PSD
                grad_x = grad_x + torch.einsum("bde,...be->...bd", M, x)
        return grad_x

    def hessian(self, x: Tensor, h: Tensor) -> Tensor:
        """Exact Hessian ``d^2 G / dx^2``, shape (B, d, d), by a Jacobian of
        :meth:`gradient` (d vector-Jacobian products, batched with vmap)."""
        def grad_single(xi, hi):
            return self.gradient(xi.unsqueeze(0), hi.unsqueeze(0)).squeeze(0)

        return torch.func.vmap(torch.func.jacrev(grad_single))(x, h)
