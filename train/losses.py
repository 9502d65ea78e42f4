"""Segmentation losses: soft Dice + cross-entropy, as nnU-Net trains with.

Logits are channels-last ``(N, *spatial, K)`` float; labels ``(N, *spatial)`` integer class
indices in ``[0, K)``. Every loss here is a mean over samples of a per-sample value, so
data-parallel training (a mean of per-device means over equal shares) gives exactly the
single-device loss.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from randconv_jax import losses as rc_losses

CONSISTENCY_LOSSES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "js_consistency": rc_losses.js_consistency,
    "gin_consistency": rc_losses.gin_consistency,
}
"""``config.loss.consistency`` -> the :mod:`randconv_jax.losses` function over the ``(copies, N,
*spatial, K)`` logits of the augmented copies (RandConv's JS term, GIN-IPA's KL term). A name
that is not here is an error when the config is read."""

DICE_SMOOTH = 1e-5
"""nnU-Net's ``SoftDiceLoss`` smoothing term (``smooth=1e-5``)."""


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-sample mean cross-entropy over pixels/voxels.

    Args:
        logits: ``(N, *spatial, K)`` float.
        labels: ``(N, *spatial)`` int, values in ``[0, K)``.

    Returns:
        ``(N,)`` float32.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return nll.reshape(nll.shape[0], -1).mean(axis=1)


def soft_dice(logits: jax.Array, labels: jax.Array, *, include_background: bool = False,
              smooth: float = DICE_SMOOTH) -> jax.Array:
    """Per-sample soft Dice coefficient of the softmax probabilities, averaged over classes.

    ``dc_k = (2·TP_k + smooth) / (2·TP_k + FP_k + FN_k + smooth)`` with soft counts
    (nnU-Net ``SoftDiceLoss``: ``do_bg=False`` drops the background class, ``smooth=1e-5``,
    per-sample rather than batch Dice so the value is a per-sample mean).

    Returns:
        ``(N,)`` float32 in ``[0, 1]``.
    """
    k = logits.shape[-1]
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    onehot = jax.nn.one_hot(labels, k, dtype=jnp.float32)
    axes = tuple(range(1, logits.ndim - 1))
    tp = jnp.sum(probs * onehot, axis=axes)
    fp = jnp.sum(probs * (1.0 - onehot), axis=axes)
    fn = jnp.sum((1.0 - probs) * onehot, axis=axes)
    dc = (2.0 * tp + smooth) / jnp.maximum(2.0 * tp + fp + fn + smooth, 1e-8)
    if not include_background:
        dc = dc[:, 1:]
    return dc.mean(axis=-1)


def dice_ce_loss(logits: jax.Array, labels: jax.Array, *, dice_weight: float = 1.0,
                 ce_weight: float = 1.0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """nnU-Net's ``DC_and_CE_loss``: ``ce_weight·CE + dice_weight·(1 − soft Dice)``.

    nnU-Net adds ``−Dice``; we add ``1 − Dice`` (same gradient) so the loss is non-negative.

    Returns:
        The scalar loss (mean over samples) and ``{"ce", "dice"}`` batch means.
    """
    ce = cross_entropy(logits, labels)
    dc = soft_dice(logits, labels)
    loss = ce_weight * ce + dice_weight * (1.0 - dc)
    return loss.mean(), {"ce": ce.mean(), "dice": dc.mean()}
