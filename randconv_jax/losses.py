"""Consistency losses between the predictions on several augmented copies of the same input.

Logits come stacked with the copy axis first and the class axis last:
``(n_copies, ..., num_classes)``: ``(n, N, K)`` per image (classification) or
``(n, N, *spatial, K)`` per pixel / voxel (segmentation). Every KL divergence sums over the
class axis; ``reduction`` then says what happens over the remaining positions (the ``...``):

* ``"mean"``: the mean over positions (per image for classification, which is PyTorch's
  ``kl_div(..., reduction='batchmean')``; per pixel / voxel for segmentation);
* ``"sum"``: the sum over positions;
* ``"none"``: the per-position values, shape ``logits.shape[1:-1]``.

Gradients flow into every copy's logits (the official codes detach nothing), unless
``stop_gradient_target=True``. The augmenters themselves never receive gradients (their
params are ``lax.stop_gradient``-ed), so these losses train only the network.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from randconv_jax._typing import Augmentation, PRNGKey

REDUCTIONS = ("mean", "sum", "none")
JS_CLAMP = 1e-7  # RandConv: M = clamp(mean p, 1e-7, 1).


def _check_logits(logits: ArrayLike) -> jax.Array:
    if isinstance(logits, (list, tuple)):
        logits = jnp.stack([jnp.asarray(x) for x in logits])
    logits = jnp.asarray(logits)
    if logits.ndim < 3:
        raise ValueError(
            "logits must be stacked copies (n_copies, ..., num_classes) with at least one position axis, "
            f"e.g. (3, N, K); got shape {logits.shape}"
        )
    if logits.shape[0] < 2:
        raise ValueError(f"logits must hold at least 2 copies along axis 0, got shape {logits.shape}")
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    return logits


def _reduce(per_position: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(per_position)
    if reduction == "sum":
        return jnp.sum(per_position)
    if reduction == "none":
        return per_position
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def js_consistency(
    logits: ArrayLike,
    *,
    reduction: str = "mean",
    stop_gradient_target: bool = False,
) -> jax.Array:
    """RandConv's Jensen-Shannon-style consistency: ``(1/n) sum_i KL(p_i || M)``.

    ``p_i = softmax(logits[i])`` over the last axis, ``M = clip(mean_i p_i, 1e-7, 1)``,
    ``KL(p || M) = sum_k p_k (log p_k - log M_k)``. This is the official RandConv code's
    ``train_one_epoch`` term (``F.kl_div(log M, p_i, reduction='batchmean')`` averaged over the
    three copies; Xu et al., ICLR 2021), an AugMix-style loss. Multiply by lambda = 5 (RC_img)
    or 10 (RC_mix), the paper's weights. For how the official code makes the three copies
    (copies 2 and 3 stacked on copy 1), see :func:`consistency_views`.

    Args:
      logits: ``(n_copies, ..., num_classes)`` float array (or a list of per-copy arrays).
      reduction: ``"mean"`` (default; = ``batchmean`` for ``(n, N, K)`` logits, the per-pixel
        mean for segmentation), ``"sum"`` or ``"none"``.
      stop_gradient_target: treat ``M`` as a constant (the official code does not).

    Returns:
      float32 scalar (or per-position array for ``"none"``), >= 0, zero when all copies agree.

    Examples:
      >>> import jax.numpy as jnp
      >>> from randconv_jax import losses
      >>> float(losses.js_consistency(jnp.zeros((3, 8, 10))))  # 3 copies, 8 images, 10 classes
      0.0
    """
    logits = _check_logits(logits).astype(jnp.float32)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    p = jnp.exp(log_p)
    mixture = jnp.clip(jnp.mean(p, axis=0), JS_CLAMP, 1.0)
    if stop_gradient_target:
        mixture = lax.stop_gradient(mixture)
    kl = jnp.sum(p * (log_p - jnp.log(mixture)[None]), axis=-1)  # (n, ...)
    return _reduce(jnp.mean(kl, axis=0), reduction)


def gin_consistency(
    logits: ArrayLike,
    *,
    reduction: str = "elementwise_mean",
    stop_gradient_target: bool = False,
) -> jax.Array:
    """GIN-IPA's consistency: ``KL(p_bar || p_i)`` with ``p_bar`` the mean softmax of the copies.

    The official code (``consist_type='kld'``) computes
    ``nn.KLDivLoss()(log_softmax(all copies), p_bar tiled)``: PyTorch's default reduction
    ``'mean'`` averages over *every element*, classes included. That is the default here,
    ``"elementwise_mean"`` = ``(1 / (n * K)) * sum_i mean_positions KL(p_bar || p_i)``, the scale
    at which the paper's lambda = 10 was tuned (Ouyang et al., IEEE TMI 2022). The other
    reductions use the per-position KL averaged over copies, ``(1/n) sum_i KL(p_bar || p_i)``:
    ``"mean"`` (per image / pixel mean), ``"sum"``, ``"none"``.

    Args:
      logits: ``(n_copies, ..., num_classes)`` float array (or a list of per-copy arrays).
      reduction: ``"elementwise_mean"`` (official), ``"mean"``, ``"sum"`` or ``"none"``.
      stop_gradient_target: treat ``p_bar`` as a constant (the official code does not; a
        medical DG benchmark re-implementation does).

    Returns:
      float32 scalar (or per-position array for ``"none"``), >= 0, zero when all copies agree.
    """
    logits = _check_logits(logits).astype(jnp.float32)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    p_bar = jnp.mean(jnp.exp(log_p), axis=0)
    if stop_gradient_target:
        p_bar = lax.stop_gradient(p_bar)
    # xlogy: 0 * log 0 = 0, as PyTorch's kl_div.
    log_p_bar = jnp.log(jnp.where(p_bar > 0, p_bar, 1.0))
    kl = jnp.sum(p_bar[None] * (log_p_bar[None] - log_p), axis=-1)  # (n, ...)
    per_position = jnp.mean(kl, axis=0)
    if reduction == "elementwise_mean":
        return jnp.mean(per_position) / logits.shape[-1]
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS + ('elementwise_mean',)}, got {reduction!r}")
    return _reduce(per_position, reduction)


def consistency_views(
    key: PRNGKey,
    images: ArrayLike,
    *,
    aug: Augmentation,
    n_views: int = 3,
    stack_on_first: bool = False,
) -> jax.Array:
    """``n_views`` augmented copies of ``images`` for a consistency loss, stacked on a new axis 0.

    Default (the paper's description): every copy is an independent draw of ``aug`` on the
    clean input, ``[aug(k_1, x), ..., aug(k_n, x)]``.

    ``stack_on_first=True`` reproduces the official RandConv code (``train_one_epoch``):
    ``inputs`` is overwritten by the first copy before the others are made, so copies 2 and 3
    are two random convolutions stacked on copy 1: ``[a(x), b(a(x)), c(a(x))]``. The
    cross-entropy there is computed on copy 1 only. Opt-in, to reproduce the official runs.

    Args:
      key: PRNG key; split into one key per copy.
      images: whatever ``aug`` takes (one image, or a batch when ``aug`` came from
        :func:`randconv_jax.batched` / ``presets.for_batches``).
      aug: an :class:`~randconv_jax.Augmentation`.
      n_views: number of copies (3 in both papers).
      stack_on_first: see above.

    Returns:
      ``(n_views, *images.shape)`` array in the images' dtype (float).

    Source: ``train_one_epoch`` of the official RandConv code (Xu et al. 2021).
    """
    if not isinstance(aug, Augmentation):
        raise TypeError(f"aug must be a randconv_jax.Augmentation, got {type(aug).__name__}")
    if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
        raise ValueError(f"n_views must be a positive int, got {n_views!r}")
    keys = jax.random.split(key, n_views)
    first = aug(keys[0], images)
    source = first if stack_on_first else images
    return jnp.stack([first] + [aug(k, source) for k in keys[1:]])
