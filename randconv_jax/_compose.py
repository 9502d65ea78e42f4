"""Wrappers that turn augmentations into new augmentations (optax ``chain`` is the model).

Each takes and returns an :class:`~randconv_jax.Augmentation`, so the results
compose, expose everything they draw through ``sample``, and stay pure functions
of the key.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _validation
from randconv_jax._typing import Augmentation, Params, PRNGKey

BATCH_MODES = ("per_sample", "per_batch")


def _check_augmentation(aug: object, name: str = "aug") -> Augmentation:
    if not isinstance(aug, Augmentation):
        raise TypeError(
            f"{name} must be a randconv_jax.Augmentation (sample/apply pair, e.g. from "
            f"make_random_conv or randconv_jax.presets), got {type(aug).__name__}"
        )
    return aug


@functools.partial(jax.tree_util.register_dataclass, data_fields=["applied", "inner"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class ProbabilityParams:
    """``applied``: bool scalar coin ~ Bernoulli(p) (shape ``()``, ``(N,)`` per sample); ``inner``: the wrapped params.

    Source: RandConv's identity coin (Xu et al. 2021) and nnU-Net's ``RandomTransform``.
    """

    applied: jax.Array
    inner: Params


def with_probability(aug: Augmentation, probability: ArrayLike) -> Augmentation:
    """Applies ``aug`` with probability ``p``; otherwise returns the image unchanged.

    The coin is drawn per call, so it is per sample under a per-sample vmap and
    shared under a per-batch one (RandConv's RC_img draws it once per batch with
    p = 0.5; the MS group's nnU-Net transform once per sample with p = 0.5).
    ``probability`` may be a traced scalar (schedules do not recompile). The inner
    params are always drawn, so the key stream does not depend on the coin.

    Cost: with a shared coin (per batch) a ``lax.cond`` skips the augmentation when
    the coin says no; under a per-sample ``vmap`` the cond becomes a select, so the
    augmentation is computed for every sample and ``p`` saves no time.

    ``aug`` must keep the image's shape ``(*spatial, C)`` (and the output keeps its dtype);
    ``probability`` is a float scalar in [0, 1] (checked when concrete).

    Source: RandConv's ``identity_prob`` (Xu et al. 2021), nnU-Net's ``RandomTransform``.

    Examples:
      >>> import jax, jax.numpy as jnp, randconv_jax as rcj
      >>> x = jnp.arange(48.0).reshape(4, 4, 3)
      >>> never = rcj.with_probability(rcj.make_random_conv(), 0.0)
      >>> bool((never(jax.random.key(0), x) == x).all())
      True
    """
    aug = _check_augmentation(aug)
    p = _validation.check_probability(probability)

    def sample(key: PRNGKey, image: ArrayLike) -> ProbabilityParams:
        k_coin, k_inner = jax.random.split(key)
        return ProbabilityParams(jax.random.bernoulli(k_coin, p), aug.sample(k_inner, image))

    def apply(image: ArrayLike, params: ProbabilityParams, *, mask: ArrayLike | None = None) -> jax.Array:
        image = _validation.check_image(image)
        struct = jax.eval_shape(lambda: aug.apply(image, params.inner, mask=mask))
        if struct.shape != image.shape:
            raise ValueError(
                f"with_probability needs an augmentation that keeps the image's shape {image.shape} (the "
                f"image is returned unchanged when the coin says no), but it gives shape {struct.shape}"
            )
        out: jax.Array = lax.cond(
            params.applied,
            lambda: aug.apply(image, params.inner, mask=mask).astype(image.dtype),
            lambda: image,
        )
        return out

    return Augmentation(sample, apply)


@functools.partial(jax.tree_util.register_dataclass, data_fields=["alpha", "inner"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class MixParams:
    """``alpha``: float32 weight of the augmented image (shape ``()``, ``(N,)`` per sample); ``inner``: wrapped params.

    Source: RandConv's RC_mix and GIN's mixing (Xu et al. 2021; Ouyang et al. 2022).
    """

    alpha: jax.Array
    inner: Params


def mix_with_input(aug: Augmentation, *, alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0)) -> Augmentation:
    """Mixes ``aug``'s output with its input: ``alpha * aug(x) + (1 - alpha) * x``.

    ``alpha ~ U(low, high)`` per call (RandConv's RC_mix: U(0, 1), one per batch;
    GIN: U(0, 1) per sample). The bounds may be traced scalars; concrete ones must be
    finite with ``low <= high``. Images ``(*spatial, C)`` keep their shape and dtype (the mix
    is computed in float32 at least).

    Source: RandConv's ``mixing`` (Xu et al. 2021) and GIN (Ouyang et al. 2022).
    """
    aug = _check_augmentation(aug)
    low, high = _validation.check_range(alpha_range, name="alpha_range")

    def sample(key: PRNGKey, image: ArrayLike) -> MixParams:
        k_alpha, k_inner = jax.random.split(key)
        alpha = jax.random.uniform(k_alpha, (), jnp.float32, low, high)
        return MixParams(alpha, aug.sample(k_inner, image))

    def apply(image: ArrayLike, params: MixParams, *, mask: ArrayLike | None = None) -> jax.Array:
        image = _validation.check_image(image)
        compute = jnp.promote_types(image.dtype, jnp.float32)
        x = image.astype(compute)
        y = aug.apply(image, params.inner, mask=mask).astype(compute)
        alpha = lax.stop_gradient(params.alpha).astype(compute)
        mixed = alpha * y + (1 - alpha) * x
        m = _validation.check_mask(mask, image)
        if m is not None:  # alpha * x + (1 - alpha) * x is not x bit for bit
            mixed = jnp.where(m[..., None], mixed, x)
        return mixed.astype(image.dtype)

    return Augmentation(sample, apply)


def chain(*augs: Augmentation) -> Augmentation:
    """Applies augmentations in order; the key is split into one subkey per member.

    Params are the tuple of the members' params. Every member takes and returns one float
    image ``(H, W, C)`` or ``(D, H, W, C)`` (same shape and dtype).

    Source: optax's ``chain`` (the project's composition model).
    """
    augs = tuple(_check_augmentation(a, f"augs[{i}]") for i, a in enumerate(augs))
    if not augs:
        raise ValueError("chain needs at least one augmentation")

    def sample(key: PRNGKey, image: ArrayLike) -> tuple[Params, ...]:
        keys = jax.random.split(key, len(augs))
        return tuple(a.sample(k, image) for a, k in zip(augs, keys, strict=True))

    def apply(image: ArrayLike, params: tuple[Params, ...], *, mask: ArrayLike | None = None) -> jax.Array:
        if not isinstance(params, tuple) or len(params) != len(augs):
            raise ValueError(f"params must be a tuple of {len(augs)} members' params, got {type(params).__name__}")
        out = _validation.check_image(image)
        for a, p in zip(augs, params, strict=True):
            out = a.apply(out, p, mask=mask)
        return out

    return Augmentation(sample, apply)


def check_batch(images: ArrayLike) -> jax.Array:
    """``images`` as an array, checked to be a non-empty batch ``(N, H, W, C)`` or ``(N, D, H, W, C)``."""
    images = jnp.asarray(images)
    if images.ndim not in (4, 5):
        raise ValueError(f"images must be a batch (N, H, W, C) or (N, D, H, W, C), got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"images must hold at least one image, got shape {images.shape}")
    return images


def check_batch_mask(images: jax.Array, mask: ArrayLike | None) -> jax.Array | None:
    """A batch's mask ``(N, *spatial)``: a leading axis of the batch's ``N``, and 0/1 values when they are
    concrete (checked here: inside the per-image ``vmap`` the mask is traced)."""
    if mask is None:
        return None
    concrete = _validation.concrete_value(mask)
    mask = jnp.asarray(mask)
    if mask.ndim == 0 or mask.shape[0] != images.shape[0]:
        raise ValueError(f"mask must have a leading batch axis of {images.shape[0]}, got shape {mask.shape}")
    if concrete is not None:
        _validation.check_mask(concrete, jax.ShapeDtypeStruct(mask.shape + (1,), jnp.float32))
    return mask


def _like_batch_axis(keys: jax.Array, images: jax.Array) -> jax.Array:
    """``keys`` ``(N,)`` sharded as the batch axis of ``images`` where the mesh's axes are Explicit
    (``vmap`` needs its mapped axes sharded alike there; under Auto axes the compiler decides)."""
    sharding = jax.typeof(images).sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty or not any(t == jax.sharding.AxisType.Explicit for t in mesh.axis_types):
        return keys
    batch_axis = sharding.spec[0] if len(sharding.spec) else None
    if batch_axis is None:
        return keys
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(batch_axis))
    out: jax.Array = jax.sharding.reshard(keys, spec)
    return out


def batched(aug: Augmentation, *, mode: str = "per_sample", chunk_size: int | None = None) -> Augmentation:
    """Lifts a one-image augmentation to batches ``(N, *spatial, C)``.

    * ``"per_sample"``: every image gets its own draw:
      ``jax.vmap(aug)(jax.random.split(key, N), images)`` (GIN, the MS group's transforms).
    * ``"per_batch"``: one draw shared by the batch:
      ``jax.vmap(aug, in_axes=(None, 0))(key, images)`` (RandConv, Pro-RandConv).

    The result is an :class:`Augmentation` over batches: ``sample(key, images)``
    gives params with a leading ``N`` axis (per sample) or none (per batch), and
    ``apply(images, params, mask=masks)`` takes ``masks`` of shape
    ``(N, *spatial)`` or None.

    ``chunk_size``: None (default) vmaps ``apply`` over the whole batch; an int
    runs it ``chunk_size`` images at a time (``lax.map(..., batch_size=chunk_size)``),
    same results. On CPU this keeps each chunk's working set in cache: for
    64x224x224x3 RGB batches chunks of 4 ran a 3x3 random conv about 2x faster
    than one vmap, while 1-2 channel images were fastest unchunked (see
    docs/benchmarks.md). On GPU leave it None.

    Images are float ``(N, *spatial, C)``; masks bool (or 0/1 integers) ``(N, *spatial)``; the
    output has the batch's shape and dtype.

    Source: the sharing of the papers' codes (RandConv per batch, Xu et al. 2021; GIN per
    sample, Ouyang et al. 2022).

    Examples:
      >>> import jax, jax.numpy as jnp, randconv_jax as rcj
      >>> images = jnp.ones((4, 8, 8, 3))
      >>> shared = rcj.batched(rcj.make_random_conv(), mode="per_batch")
      >>> out = shared(jax.random.key(0), images)
      >>> out.shape, bool((out[0] == out[3]).all())  # one kernel for the whole batch
      ((4, 8, 8, 3), True)
    """
    aug = _check_augmentation(aug)
    if mode not in BATCH_MODES:
        raise ValueError(f"mode must be one of {BATCH_MODES}, got {mode!r}")
    if chunk_size is not None:
        chunk_size = _validation.check_positive_int(chunk_size, name="chunk_size")

    def sample(key: PRNGKey, images: ArrayLike) -> Params:
        images = check_batch(images)
        if mode == "per_batch":
            # Samplers read only the shape and dtype; a struct avoids slicing a sharded batch.
            return aug.sample(key, jax.ShapeDtypeStruct(images.shape[1:], images.dtype))  # type: ignore[arg-type]
        keys = _like_batch_axis(jax.random.split(key, images.shape[0]), images)
        params = jax.vmap(aug.sample)(keys, images)
        # A parameter that does not depend on the key (e.g. nnunet_rc's fixed biases) comes out of
        # vmap broadcast and unsharded; it is mapped alike with the batch in apply.
        return jax.tree.map(lambda p: _like_batch_axis(p, images), params)

    def apply(images: ArrayLike, params: Params, *, mask: ArrayLike | None = None) -> jax.Array:
        images = check_batch(images)
        mask = check_batch_mask(images, mask)
        mapped: tuple[Params, ...]
        one: Callable[[tuple[Params, ...]], jax.Array]
        if mode == "per_sample":
            mapped = (images, params, mask)
            one = lambda xs: aug.apply(xs[0], xs[1], mask=xs[2])
        else:
            mapped = (images, mask)
            one = lambda xs: aug.apply(xs[0], params, mask=xs[1])
        if chunk_size is None or chunk_size >= images.shape[0]:
            return jax.vmap(one)(mapped)
        out: jax.Array = lax.map(one, mapped, batch_size=chunk_size)
        return out

    return Augmentation(sample, apply)
