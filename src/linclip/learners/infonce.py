r"""CLIP's loss on linear encoders: symmetric InfoNCE with L2-normalised embeddings.

For a batch of :math:`B` pairs, embed :math:`u_i = G x_i`, :math:`v_j = \tilde G \tilde x_j`,
normalise :math:`\phi_i = u_i/\|u_i\|`, :math:`\tilde\phi_j = v_j/\|v_j\|` and form the logits
:math:`\ell_{ij} = \langle \phi_i, \tilde\phi_j\rangle/\tau`. The loss is the mean of the image-to-text
and text-to-image softmax cross-entropies (Radford et al. 2021):

.. math::
   L(G,\tilde G) = \frac{1}{2B}\sum_{i=1}^B\Big[
       -\ell_{ii} + \log\sum_j e^{\ell_{ij}}\Big]
     + \frac{1}{2B}\sum_{j=1}^B\Big[-\ell_{jj} + \log\sum_i e^{\ell_{ij}}\Big].

Its gradient (:func:`infonce_loss_and_grad`) in three steps: with the row- and column-softmax
matrices :math:`P^{\rightarrow}_{ij} = e^{\ell_{ij}}/\sum_k e^{\ell_{ik}}` and
:math:`P^{\downarrow}_{ij} = e^{\ell_{ij}}/\sum_k e^{\ell_{kj}}`,

.. math::
   D = \frac{1}{2B}\big(P^{\rightarrow} + P^{\downarrow} - 2I\big) = \partial L/\partial\ell,
   \qquad \partial L/\partial \phi_i = \tfrac1\tau\textstyle\sum_j D_{ij} \tilde\phi_j,
   \qquad \partial L/\partial \tilde\phi_j = \tfrac1\tau\textstyle\sum_i D_{ij} \phi_i;

the Jacobian of the normalisation :math:`\partial\phi/\partial u = (I - \phi\phi^\top)/\|u\|` projects
out the radial part; finally :math:`\nabla_G L = \sum_i (\partial L/\partial u_i) x_i^\top`
(and the same for :math:`\tilde G`).

:func:`infonce_encoders` trains :math:`(G, \tilde G)` by minibatch Adam over the pairs; it is
the engine's learner ``"infonce"`` (:data:`linclip.learners.LEARNERS`).

Two properties matter for reading its subspace error. The loss is invariant under
:math:`G\to cG` (:math:`c>0`) and under :math:`(G,\tilde G)\to(AG, A\tilde G)` for orthogonal
:math:`A`, so, as for the linear learner, only the row spaces are identified. And, unlike the
linear loss, it has no regulariser: the components of :math:`G` along directions in which the
data have (almost) no variance are constrained only by that small variance (:math:`\gamma^{-1}`
in the paper's model), so at high SNR the row space is poorly determined even where the
embeddings :math:`Gx` are accurate. Starting from the closed-form solution (``init="linear"``) is
not a cure: such components drift under the minibatch noise (see the chapter *CLIP's loss* of
the book).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_int, check_positive
from .contrastive import Encoders, check_pairs, closed_form_encoders, cross_covariance

__all__ = [
    "INFONCE_INITS",
    "INFONCE_SCHEDULES",
    "InfoNCEOptions",
    "InfoNCETrace",
    "infonce_loss",
    "infonce_loss_and_grad",
    "infonce_encoders",
    "train_infonce",
]

#: Starting points of :func:`infonce_encoders`: ``"linear"`` (the closed-form contrastive
#: solution on the same pairs) or ``"random"`` (Gaussian entries).
INFONCE_INITS = ("linear", "random")

#: Step-size schedules of :func:`infonce_encoders`.
INFONCE_SCHEDULES = ("cosine", "constant")

_EPS_NORM = 1e-12


@dataclass(frozen=True)
class InfoNCEOptions:
    r"""Settings of the InfoNCE learner (validated on construction).

    Attributes
    ----------
    temperature : float
        Softmax temperature :math:`\tau > 0`. CLIP learns :math:`\tau` from 0.07; on the
        paper's linear model a small :math:`\tau` makes the learned :math:`G` lose rank when
        the signal is weak (small :math:`\eta`), so the default is 1 (the book's chapter
        *CLIP's loss* measures the sensitivity).
    epochs : int
        Passes over the pairs, :math:`\ge 1`.
    batch_size : int
        Pairs per minibatch :math:`B \ge 2` (the softmax runs over the batch). Capped at
        :math:`n` when there are fewer pairs; a last incomplete batch of fewer than 2 pairs is
        skipped.
    lr : float
        Adam step size :math:`> 0`, in units of the encoders' initial scale (the encoders are
        rescaled so that the mean squared embedding norm is 1 before training).
    beta1, beta2 : float
        Adam's moment decay rates, in :math:`[0, 1)`.
    eps : float
        Adam's denominator guard, :math:`> 0`.
    seed : int
        Seed (:math:`\ge 0`) of the generator that draws the random start and shuffles the
        pairs each epoch.
    init : {"random", "linear"}
        Start from Gaussian entries (the default: the learner owes nothing to the linear
        solution) or from the closed-form contrastive solution on the same pairs.
    schedule : {"cosine", "constant"}
        Step-size schedule: ``"cosine"`` decays the step from ``lr`` to 0 over the training run
        (as CLIP does), so the iterates settle at a minimiser; ``"constant"`` keeps ``lr`` and
        leaves them fluctuating at a noise floor set by ``lr`` and the batch size.
    weight_decay : float
        Decoupled weight decay :math:`\lambda \ge 0` (AdamW; CLIP trains with 0.2): every step
        also multiplies :math:`G, \tilde G` by :math:`1 - \mathrm{step}\cdot\lambda`. The loss is
        scale-invariant, so the decay changes only the directions the data do not constrain.
    center : bool
        Subtract the sample means of :math:`x` and :math:`\tilde x` before training (the linear
        learner uses the centred cross-covariance; the paper's model has mean zero, so this only
        removes the sample-mean fluctuation).
    """

    temperature: float = 1.0
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0
    init: str = "random"
    center: bool = True
    schedule: str = "cosine"
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperature", check_positive("temperature", self.temperature))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, minimum=1))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, minimum=2))
        object.__setattr__(self, "lr", check_positive("lr", self.lr))
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a real number in [0, 1); got {value!r}")
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {value}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "eps", check_positive("eps", self.eps))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))
        if self.init not in INFONCE_INITS:
            raise ValueError(f"init must be one of {', '.join(INFONCE_INITS)}; got {self.init!r}")
        if self.schedule not in INFONCE_SCHEDULES:
            raise ValueError(
                f"schedule must be one of {', '.join(INFONCE_SCHEDULES)}; got {self.schedule!r}"
            )
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not wd >= 0:
            raise ValueError(f"weight_decay must be a real number >= 0; got {wd!r}")
        object.__setattr__(self, "weight_decay", float(wd))
        if not isinstance(self.center, bool):
            raise ValueError(f"center must be True or False; got {self.center!r}")


def _normalise(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.sqrt(np.einsum("ij,ij->i", E, E))
    if np.any(norms < _EPS_NORM):
        raise ValueError(
            "an embedding has (near) zero norm, so it cannot be normalised; "
            "the encoder maps a sample to 0"
        )
    return E / norms[:, None], norms


def _softmaxes(logits: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Row and column softmax matrices and the row and column log-sum-exps of ``logits``.

    The logits are cosines over :math:`\tau`, so they lie in :math:`[-1/\tau, 1/\tau]`: one
    exponential shifted by :math:`1/\tau` serves rows and columns without overflow, and cannot
    underflow a whole row while :math:`2/\tau < 700`. Below that (:math:`\tau < 1/350`) rows
    and columns are shifted by their own maxima.
    """
    if tau > 1.0 / 350.0:
        shift = 1.0 / tau
        e = np.exp(logits - shift)
        row_sum = e.sum(axis=1)
        col_sum = e.sum(axis=0)
        lse_row = np.log(row_sum) + shift
        lse_col = np.log(col_sum) + shift
        return e / row_sum[:, None], e / col_sum[None, :], np.concatenate([lse_row, lse_col])
    row_max = logits.max(axis=1, keepdims=True)
    e_row = np.exp(logits - row_max)
    rs = e_row.sum(axis=1, keepdims=True)
    col_max = logits.max(axis=0, keepdims=True)
    e_col = np.exp(logits - col_max)
    cs = e_col.sum(axis=0, keepdims=True)
    lse = np.concatenate([np.log(rs[:, 0]) + row_max[:, 0], np.log(cs[0]) + col_max[0]])
    return e_row / rs, e_col / cs, lse


def _check_batch(
    G: np.ndarray, G_t: np.ndarray, x: np.ndarray, xt: np.ndarray, temperature: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    x, xt = check_pairs(x, xt)
    G = np.asarray(G, dtype=float)
    G_t = np.asarray(G_t, dtype=float)
    if G.ndim != 2 or G_t.ndim != 2 or G.shape[0] != G_t.shape[0]:
        raise ValueError(
            f"G and G_t must be 2-D with the same number of rows r; got {G.shape} and {G_t.shape}"
        )
    if G.shape[1] != x.shape[1] or G_t.shape[1] != xt.shape[1]:
        raise ValueError(
            f"G is {G.shape} and G_t is {G_t.shape}, but x has d = {x.shape[1]} and xt has "
            f"d_t = {xt.shape[1]} columns"
        )
    if x.shape[0] < 2:
        raise ValueError(f"InfoNCE needs a batch of at least 2 pairs; got B = {x.shape[0]}")
    return G, G_t, x, xt, check_positive("temperature", temperature)


def infonce_loss(
    G: np.ndarray, G_t: np.ndarray, x: np.ndarray, xt: np.ndarray, temperature: float
) -> float:
    r"""Symmetric InfoNCE loss of encoders :math:`(G,\tilde G)` on one batch of pairs.

    Parameters
    ----------
    G : ndarray, shape (r, d)
        Image encoder :math:`G`.
    G_t : ndarray, shape (r, d_t)
        Text encoder :math:`\tilde G`.
    x, xt : ndarray, shapes (B, d) and (B, d_t)
        The batch: pair :math:`i` is ``(x[i], xt[i])``, every other row is a negative.
    temperature : float
        :math:`\tau > 0`.

    Returns
    -------
    float
        :math:`L`, between 0 and (for large :math:`\tau`) about :math:`\log B`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.eye(3)
    >>> float(np.round(infonce_loss(np.eye(3), np.eye(3), x, x, 1e6), 6))  # tau -> inf: log B
    1.098612
    >>> bool(infonce_loss(np.eye(3), np.eye(3), x, x, 0.01) < 1e-40)  # perfect alignment
    True
    """
    return infonce_loss_and_grad(G, G_t, x, xt, temperature, grad=False)[0]


def infonce_loss_and_grad(
    G: np.ndarray,
    G_t: np.ndarray,
    x: np.ndarray,
    xt: np.ndarray,
    temperature: float,
    *,
    grad: bool = True,
) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Symmetric InfoNCE loss and its analytic gradients :math:`\nabla_G L, \nabla_{\tilde G} L`.

    Parameters are those of :func:`infonce_loss`. With ``grad=False`` the two gradients are
    returned as empty arrays (the loss alone).

    Returns
    -------
    loss : float
    grad_G : ndarray, shape (r, d)
    grad_G_t : ndarray, shape (r, d_t)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> G, G_t = rng.standard_normal((2, 5)), rng.standard_normal((2, 4))
    >>> x, xt = rng.standard_normal((6, 5)), rng.standard_normal((6, 4))
    >>> loss, gG, gGt = infonce_loss_and_grad(G, G_t, x, xt, 0.5)
    >>> # the loss is scale-invariant in G, so its gradient is orthogonal to G
    >>> bool(abs(np.sum(gG * G)) < 1e-12 and abs(np.sum(gGt * G_t)) < 1e-12)
    True
    """
    G, G_t, x, xt, tau = _check_batch(G, G_t, x, xt, temperature)
    return _loss_and_grad(G, G_t, x, xt, tau, grad)


def _loss_and_grad(
    G: np.ndarray,
    G_t: np.ndarray,
    x: np.ndarray,
    xt: np.ndarray,
    tau: float,
    grad: bool = True,
) -> tuple[float, np.ndarray, np.ndarray]:
    B = x.shape[0]
    a, norm_a = _normalise(x @ G.T)
    b, norm_b = _normalise(xt @ G_t.T)
    logits = (a @ b.T) / tau
    p_row, p_col, lse = _softmaxes(logits, tau)
    loss = float((lse.sum() - 2.0 * np.trace(logits)) / (2.0 * B))
    if not grad:
        return loss, np.empty(0), np.empty(0)
    D = p_row + p_col
    D[np.diag_indices(B)] -= 2.0
    D /= 2.0 * B * tau
    grad_a = D @ b
    grad_b = D.T @ a
    # Jacobian of u -> u/||u||: (I - a a^T)/||u||.
    grad_u = (grad_a - np.einsum("ij,ij->i", grad_a, a)[:, None] * a) / norm_a[:, None]
    grad_v = (grad_b - np.einsum("ij,ij->i", grad_b, b)[:, None] * b) / norm_b[:, None]
    return loss, grad_u.T @ x, grad_v.T @ xt


@dataclass(frozen=True)
class InfoNCETrace:
    """Outcome of :func:`train_infonce`: the encoders and the mean batch loss of every epoch."""

    encoders: Encoders
    epoch_losses: np.ndarray


def _unit_embedding_scale(G: np.ndarray, x: np.ndarray) -> np.ndarray:
    ms = float(np.mean(np.einsum("ij,ij->i", x @ G.T, x @ G.T)))
    if not ms > 0:
        raise ValueError("the initial encoder maps every sample to 0; cannot train")
    return G / np.sqrt(ms)


def train_infonce(
    x: np.ndarray,
    xt: np.ndarray,
    r: int,
    options: InfoNCEOptions | None = None,
    seed: int | None = None,
    callback: object = None,
) -> InfoNCETrace:
    r"""Minibatch Adam on the symmetric InfoNCE loss; returns the encoders and the loss curve.

    Parameters
    ----------
    x, xt : ndarray, shapes (n, d) and (n, d_t)
        Paired samples; needs :math:`n \ge r + 1` and :math:`n \ge 2`.
    r : int
        Embedding dimension :math:`r \le \min(d,\tilde d)`.
    options : InfoNCEOptions, optional
        Temperature, epochs, batch size, Adam settings, seed, start (defaults if omitted).
    seed : int, optional
        Overrides ``options.seed`` when given.
    callback : callable, optional
        Called as ``callback(epoch, encoders)`` after every epoch (e.g. to record ERR against
        epochs); its return value is ignored.
    """
    opts = InfoNCEOptions() if options is None else options
    if not isinstance(opts, InfoNCEOptions):
        raise ValueError(f"options must be an InfoNCEOptions; got {type(opts).__name__}")
    seed = opts.seed if seed is None else check_int("seed", seed, minimum=0)
    x, xt = check_pairs(x, xt, r)
    r = int(r)
    if opts.center:
        x = x - x.mean(axis=0)
        xt = xt - xt.mean(axis=0)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    if opts.init == "linear":
        start = closed_form_encoders(cross_covariance(x, xt), r)
        G, G_t = start.G, start.G_t
    else:
        G = rng.standard_normal((r, x.shape[1]))
        G_t = rng.standard_normal((r, xt.shape[1]))
    G = _unit_embedding_scale(G, x)
    G_t = _unit_embedding_scale(G_t, xt)
    B = min(opts.batch_size, n)
    steps_per_epoch = sum(1 for s0 in range(0, n, B) if n - s0 >= 2)
    total_steps = opts.epochs * steps_per_epoch
    params = [G, G_t]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, lr, eps, tau = opts.beta1, opts.beta2, opts.lr, opts.eps, opts.temperature
    wd = opts.weight_decay
    step = 0
    losses = np.empty(opts.epochs)
    for epoch in range(opts.epochs):
        order = rng.permutation(n)
        total, batches = 0.0, 0
        for start_i in range(0, n, B):
            idx = order[start_i : start_i + B]
            if idx.size < 2:
                continue
            loss, gG, gGt = _loss_and_grad(params[0], params[1], x[idx], xt[idx], tau)
            if opts.schedule == "cosine":
                lr = opts.lr * 0.5 * (1.0 + np.cos(np.pi * step / total_steps))
            step += 1
            c1 = 1.0 - b1**step
            c2 = 1.0 - b2**step
            for k, g in enumerate((gG, gGt)):
                m[k] = b1 * m[k] + (1.0 - b1) * g
                v[k] = b2 * v[k] + (1.0 - b2) * (g * g)
                params[k] = (1.0 - lr * wd) * params[k] - lr * (m[k] / c1) / (
                    np.sqrt(v[k] / c2) + eps
                )
            total += loss
            batches += 1
        losses[epoch] = total / max(batches, 1)
        if callback is not None:
            callback(epoch, Encoders(params[0], params[1]))  # type: ignore[operator]
    return InfoNCETrace(Encoders(params[0], params[1]), losses)


def infonce_encoders(
    x: np.ndarray,
    xt: np.ndarray,
    r: int,
    options: InfoNCEOptions | None = None,
    seed: int | None = None,
) -> Encoders:
    r"""Train linear encoders on CLIP's loss (symmetric InfoNCE, normalised embeddings).

    The engine's entry point for ``learner="infonce"``. See :func:`train_infonce` for the
    parameters (``seed=None`` uses ``options.seed``).

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel
    >>> from linclip.metrics import subspace_error
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=1.0, gamma=10.0, gamma_t=10.0,
    ...                      basis_seed=0)
    >>> pairs = model.sample(4000, np.random.default_rng(1))
    >>> enc = infonce_encoders(pairs.x, pairs.xt, 4, InfoNCEOptions(init="random"))
    >>> bool(subspace_error(enc, model.U, model.U_t).err < 0.5)
    True
    """
    return train_infonce(x, xt, r, options, seed).encoders
