"""Bad input fails early with a ValueError / TypeError whose message names the argument."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import presets

KEY = jax.random.key(0)
X2 = jnp.ones((8, 9, 3), jnp.float32)
X3 = jnp.ones((5, 6, 7, 2), jnp.float32)
AUG = rc.make_random_conv(kernel_size=3)


def _abstract_params(image, **kw):
    """sample_random_conv's params as shapes only (what the checks read), without running the sampler."""
    return jax.eval_shape(functools.partial(rc.sample_random_conv, **kw), KEY, image)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_non_float_images_are_rejected(dtype):
    x = jnp.ones((8, 9, 3), dtype)
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.random_conv(KEY, x)
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.sample_random_conv(KEY, x)
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.apply_random_conv(x, rc.sample_random_conv(KEY, X2))
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.convolve(x, jnp.ones((3, 3, 3, 3)))
    with pytest.raises(TypeError, match=r"image"):
        rc.with_probability(AUG, 1.0)(KEY, x)
    with pytest.raises(TypeError, match=r"image"):
        rc.mix_with_input(AUG)(KEY, x)


def test_a_list_is_not_an_image():
    with pytest.raises(TypeError, match=r"image must be an array"):
        rc.random_conv(KEY, np.ones((4, 4, 1)).tolist())


@pytest.mark.parametrize("shape", [(8, 9), (2, 5, 6, 7, 2), (7,)], ids=["rank2", "rank5", "rank1"])
def test_wrong_rank_is_rejected(shape):
    x = jnp.ones(shape, jnp.float32)
    with pytest.raises(ValueError, match=r"image must be one unbatched channels-last image"):
        rc.random_conv(KEY, x)
    with pytest.raises(ValueError, match=r"image must"):
        rc.sample_random_conv(KEY, x)
    with pytest.raises(ValueError, match=r"image must"):
        rc.sample_random_conv(KEY, jax.ShapeDtypeStruct(shape, jnp.float32))
    with pytest.raises(ValueError, match=r"image must"):
        rc.convolve(x, jnp.ones((3, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"image"):
        presets.nnunet_rc()(KEY, x)


@pytest.mark.parametrize("kernel_size", [4, 0, -3, (1, 2, 3), (), (3.0,), True, (3, None)], ids=repr)
def test_bad_kernel_sizes_are_rejected(kernel_size):
    with pytest.raises(ValueError, match=r"kernel_size"):
        rc.random_conv(KEY, X2, kernel_size=kernel_size)
    with pytest.raises(ValueError, match=r"kernel_size"):
        rc.make_random_conv(kernel_size=kernel_size)


@pytest.mark.parametrize("kernel_size", [3.0, None, "3"], ids=repr)
def test_non_int_kernel_size_error_names_the_argument(kernel_size):
    with pytest.raises((ValueError, TypeError), match=r"kernel_size"):
        rc.random_conv(KEY, X2, kernel_size=kernel_size)
    with pytest.raises((ValueError, TypeError), match=r"kernel_size"):
        rc.make_random_conv(kernel_size=kernel_size)


def test_even_kernel_in_convolve_is_rejected():
    with pytest.raises(ValueError, match=r"kernel spatial sizes must be odd"):
        rc.convolve(X2, jnp.ones((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"kernel must have shape"):
        rc.convolve(X2, jnp.ones((3, 3, 3)))
    with pytest.raises(ValueError, match=r"kernel has 2 input channels per group"):
        rc.convolve(X2, jnp.ones((3, 3, 2, 3)))
    with pytest.raises(ValueError, match=r"groups"):
        rc.convolve(X2, jnp.ones((3, 3, 1, 4)), groups=3)


@pytest.mark.parametrize("bad", ["depth", "groups", "hidden_channels"])
@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_non_positive_int_hyper_parameters_are_rejected(bad, value):
    with pytest.raises(ValueError, match=bad):
        rc.random_conv(KEY, X2, **{bad: value})


@pytest.mark.parametrize("bad", ["depth", "groups", "hidden_channels"])
def test_make_random_conv_checks_hyper_parameters_at_construction(bad):
    # make_random_conv: "Hyper-parameters are checked now, so a bad value fails at construction."
    with pytest.raises(ValueError, match=bad):
        rc.make_random_conv(**{bad: 0})


@pytest.mark.parametrize(
    "mask_shape", [(8, 8), (9, 8), (8, 9, 3), (1, 8, 9), (8,)], ids=["short", "transposed", "channels", "batched", "1d"]
)
def test_mask_of_wrong_shape_is_rejected(mask_shape):
    mask = np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=r"mask must have the image's spatial shape"):
        rc.random_conv(KEY, X2, mask=mask)
    with pytest.raises(ValueError, match=r"mask"):
        rc.apply_random_conv(X2, rc.sample_random_conv(KEY, X2), mask=mask, normalize="zscore_restore")
    with pytest.raises(ValueError, match=r"mask"):
        rc.normalize_output(X2, X2, mode="frobenius", mask=mask)
    with pytest.raises(ValueError, match=r"mask"):
        presets.nnunet_rc(probability=1.0, hidden_per_channel=2)(KEY, X2, mask=mask)


def test_mask_of_wrong_dtype_is_rejected():
    with pytest.raises(TypeError, match=r"mask must be boolean or numeric"):
        rc.random_conv(KEY, X2, mask=np.ones((8, 9), np.complex64))


def test_params_for_another_channel_count_are_rejected():
    params = rc.sample_random_conv(KEY, jnp.ones((8, 9, 4)))
    with pytest.raises(ValueError, match=r"params\.stacks\[0\] takes 4 channels but receives 3"):
        rc.apply_random_conv(X2, params)
    grouped = _abstract_params(jnp.ones((8, 9, 6)), groups=3)
    with pytest.raises(ValueError, match=r"params"):
        rc.apply_random_conv(X2, grouped)
    hidden = _abstract_params(X2, depth=2, hidden_channels=5)
    bad = rc.RandomConvParams(hidden.stacks[:1])  # ends with 5 channels
    with pytest.raises(ValueError, match=r"params end with 5 channels"):
        rc.apply_random_conv(X2, bad)


def test_params_for_another_rank_are_rejected():
    params3 = rc.sample_random_conv(KEY, jnp.ones((5, 6, 7, 3)))
    with pytest.raises(ValueError, match=r"params\.stacks\[0\]\.kernels has shape"):
        rc.apply_random_conv(X2, params3)
    params2 = _abstract_params(jnp.ones((5, 6, 2)))
    with pytest.raises(ValueError, match=r"params\.stacks\[0\]\.kernels has shape"):
        rc.apply_random_conv(X3, params2)
    batched = jax.eval_shape(jax.vmap(rc.sample_random_conv, in_axes=(0, None)), jax.random.split(KEY, 2), X2)
    with pytest.raises(ValueError, match=r"params"):
        rc.apply_random_conv(X2, batched)


def test_params_of_the_wrong_type_are_rejected():
    with pytest.raises(TypeError, match=r"params must be RandomConvParams"):
        rc.apply_random_conv(X2, {"kernels": jnp.ones((3, 3, 3, 3))})
    with pytest.raises(ValueError, match=r"params must be a tuple of 2"):
        rc.chain(AUG, AUG).apply(X2, rc.sample_random_conv(KEY, X2))


def test_unknown_normalize_mode_is_rejected():
    with pytest.raises(ValueError, match=r"normalize must be one of"):
        rc.random_conv(KEY, X2, normalize="zscore")
    with pytest.raises(ValueError, match=r"normalize must be one of"):
        rc.apply_random_conv(X2, rc.sample_random_conv(KEY, X2), normalize="bogus")
    with pytest.raises(ValueError, match=r"normalize must be one of"):
        rc.make_random_conv(normalize="minmax")
    with pytest.raises(ValueError, match=r"normalize must be one of"):
        rc.normalize_output(X2, X2, mode="l2")


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match=r"impl must be one of"):
        rc.random_conv(KEY, X2, impl="cudnn")
    with pytest.raises(ValueError, match=r"impl must be one of"):
        rc.apply_random_conv(X2, rc.sample_random_conv(KEY, X2), impl="fft")
    with pytest.raises(ValueError, match=r"impl must be one of"):
        rc.convolve(X2, jnp.ones((3, 3, 3, 3)), impl="fft")
    with pytest.raises(ValueError, match=r"impl must be one of"):
        rc.make_random_conv(impl="gpu")
    with pytest.raises(ValueError, match=r"impl must be one of"):
        presets.ms_rc_3d(impl="gpu")


def test_unknown_multiscale_mode_and_bad_chunk_size_are_rejected():
    with pytest.raises(ValueError, match=r"multiscale must be one of"):
        rc.random_conv(KEY, X2, kernel_size=(1, 3), multiscale="tree")
    with pytest.raises(ValueError, match=r"multiscale must be one of"):
        rc.make_random_conv(multiscale="tree")
    with pytest.raises(ValueError, match=r"multiscale must be one of"):
        rc.apply_random_conv(X2, rc.sample_random_conv(KEY, X2), multiscale="tree")
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match=r"chunk_size"):
            rc.batched(AUG, chunk_size=bad)
        with pytest.raises(ValueError, match=r"chunk_size"):
            presets.for_batches("randconv", chunk_size=bad)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"groups=2 must divide the image's channels \(3\)"):
        rc.random_conv(KEY, X2, groups=2)
    with pytest.raises(ValueError, match=r"groups=3 must divide .*hidden_channels \(4\)"):
        rc.random_conv(KEY, X2, groups=3, depth=2, hidden_channels=4)
    with pytest.raises(ValueError, match=r"groups"):
        rc.make_random_conv(groups=2)(KEY, X2)


@pytest.mark.parametrize("p", [1.5, -0.1, np.float32(2.0)])
def test_probability_outside_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match=r"probability must lie in \[0, 1\]"):
        rc.with_probability(AUG, p)
    with pytest.raises(ValueError, match=r"probability"):
        presets.ms_rc_3d(probability=p)
    with pytest.raises(ValueError, match=r"probability"):
        presets.nnunet_rc(probability=p)
    with pytest.raises(ValueError, match=r"identity_probability"):
        presets.randconv(identity_probability=p)


def test_alpha_range_must_be_an_ordered_pair():
    with pytest.raises(ValueError, match=r"alpha_range must satisfy low <= high"):
        rc.mix_with_input(AUG, alpha_range=(0.8, 0.2))
    with pytest.raises(ValueError, match=r"alpha_range must be a pair"):
        rc.mix_with_input(AUG, alpha_range=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match=r"alpha_range"):
        presets.randconv(variant="mix", alpha_range=(1.0, 0.0))


@pytest.mark.parametrize(
    "not_aug", [lambda k, x: x, "random_conv", None, (AUG.sample, AUG.apply)], ids=["function", "str", "None", "pair"]
)
def test_wrappers_reject_non_augmentations(not_aug):
    with pytest.raises(TypeError, match=r"aug must be a randconv_jax.Augmentation"):
        rc.with_probability(not_aug, 0.5)
    with pytest.raises(TypeError, match=r"aug must be a randconv_jax.Augmentation"):
        rc.mix_with_input(not_aug)
    with pytest.raises(TypeError, match=r"aug must be a randconv_jax.Augmentation"):
        rc.batched(not_aug)
    with pytest.raises(TypeError, match=r"augs\[1\] must be a randconv_jax.Augmentation"):
        rc.chain(AUG, not_aug)


def test_chain_needs_a_member():
    with pytest.raises(ValueError, match=r"chain needs at least one augmentation"):
        rc.chain()


def test_batched_checks_mode_images_and_masks():
    with pytest.raises(ValueError, match=r"mode must be one of"):
        rc.batched(AUG, mode="per_pixel")
    aug = rc.batched(AUG)
    with pytest.raises(ValueError, match=r"images must be a batch"):
        jax.eval_shape(aug, KEY, X2)
    images = jnp.stack([X2, X2])
    with pytest.raises(ValueError, match=r"mask must have a leading batch axis of 2"):
        jax.eval_shape(functools.partial(aug, mask=np.ones((3, 8, 9), bool)), KEY, images)


def test_preset_names_and_variants_are_checked():
    with pytest.raises(ValueError, match=r"variant must be one of"):
        presets.randconv(variant="pix")
    with pytest.raises(ValueError, match=r"name must be one of"):
        presets.for_batches("ginn")
    with pytest.raises(ValueError, match=r"kernel_size"):
        presets.nnunet_rc(kernel_size=2)
    with pytest.raises(ValueError, match=r"hidden_per_channel"):
        presets.nnunet_rc(hidden_per_channel=0)
    with pytest.raises(ValueError, match=r"depth"):
        presets.ms_rc_3d(depth=0)
    with pytest.raises(ValueError, match=r"kernel_size"):
        presets.randconv(kernel_sizes=(2, 4))


def test_normalize_output_checks_shapes():
    with pytest.raises(ValueError, match=r"output shape .* must equal reference shape"):
        rc.normalize_output(X2, jnp.ones((8, 9, 2)), mode="none")
    with pytest.raises(TypeError, match=r"output must have a floating-point dtype"):
        rc.normalize_output(jnp.ones((8, 9, 3), jnp.int32), X2, mode="none")
    with pytest.raises(TypeError, match=r"reference must have a floating-point dtype"):
        rc.normalize_output(X2, jnp.ones((8, 9, 3), jnp.int32), mode="none")


# --- numbers, masks and layouts that used to pass silently ------------------------------------------


BAD_NUMBERS = [float("nan"), float("inf"), -1.0, np.float32(-0.5), jnp.float32(float("nan"))]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=["nan", "inf", "negative", "np-negative", "jax-nan"])
@pytest.mark.parametrize("arg", ["sigma", "gain", "bias_std", "truncate"])
def test_nan_inf_negative_law_numbers_are_refused_naming_the_argument(arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        rc.random_conv(KEY, X2, **{arg: value})
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        rc.make_random_conv(**{arg: value})
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        rc.sample_conv_stack(KEY, spatial_dims=2, in_channels=3, out_channels=3, kernel_sizes=(3,), **{arg: value})


def test_zero_truncate_is_a_value_error_not_a_zero_division():
    with pytest.raises(ValueError, match=r"truncate must be > 0"):
        rc.random_conv(KEY, X2, truncate=0.0)


@pytest.mark.parametrize("factory", [presets.randconv, presets.ms_rc_3d, presets.nnunet_rc])
@pytest.mark.parametrize("value", [float("nan"), -2.0])
def test_preset_gains_are_checked_at_construction(factory, value):
    with pytest.raises(ValueError, match=r"\bgain\b"):
        factory(gain=value)


@pytest.mark.parametrize("arg", ["weight_std", "bias_std"])
def test_gin_stds_are_checked(arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        rc.sample_gin(KEY, X2, **{arg: float("nan")})


@pytest.mark.parametrize("arg", ["sigma_g_bound", "offset_bound", "affine_std", "epsilon"])
@pytest.mark.parametrize("value", [float("nan"), -0.1])
def test_pro_randconv_numbers_are_checked(arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        rc.sample_pro_randconv(KEY, X2, **{arg: value})
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        presets.pro_randconv(**{arg: value})


def test_pro_randconv_inverted_uniform_bounds_are_refused():
    with pytest.raises(ValueError, match=r"epsilon .* must not exceed offset_bound"):
        presets.pro_randconv(epsilon=0.3, offset_bound=0.2)
    with pytest.raises(ValueError, match=r"epsilon .* must not exceed sigma_g_bound"):
        rc.sample_pro_randconv(KEY, X2, epsilon=0.5, sigma_g_bound=0.1)


@pytest.mark.parametrize("p", [float("nan"), float("inf"), jnp.float32(1.5)], ids=["nan", "inf", "jax-array"])
def test_non_finite_and_array_probabilities_are_refused(p):
    with pytest.raises(ValueError, match=r"probability must lie in \[0, 1\]"):
        rc.with_probability(AUG, p)
    with pytest.raises(ValueError, match=r"identity_probability"):
        presets.randconv(identity_probability=p)


def test_ranges_must_be_finite_and_ordered():
    with pytest.raises(ValueError, match=r"alpha_range\[0\] must be finite"):
        rc.mix_with_input(AUG, alpha_range=(float("nan"), 1.0))
    with pytest.raises(ValueError, match=r"alpha_range must satisfy low <= high"):
        rc.mix_with_input(AUG, alpha_range=(jnp.float32(0.9), 0.1))
    with pytest.raises(ValueError, match=r"alpha_range"):
        presets.gin(alpha_range=(1.0, 0.0))


def test_traced_numbers_are_the_callers_responsibility():
    # A traced value cannot be inspected while tracing: it is used as given (documented).
    out = jax.jit(lambda s: rc.random_conv(KEY, X2, sigma=s))(jnp.float32(-1.0))
    assert out.shape == X2.shape
    out = jax.jit(lambda p: rc.with_probability(AUG, p)(KEY, X2))(jnp.float32(2.0))
    assert out.shape == X2.shape


@pytest.mark.parametrize("mask_value", [0.5, 2.0, float("nan")], ids=["half", "two", "nan"])
def test_masks_must_be_boolean_or_zero_one(mask_value):
    mask = np.ones((8, 9), np.float32)
    mask[2, 3] = mask_value
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0 and 1"):
        rc.random_conv(KEY, X2, mask=mask)
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0 and 1"):
        rc.normalize_output(X2, X2, mode="zscore_restore", mask=mask)
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0 and 1"):
        rc.batched(AUG)(KEY, jnp.stack([X2, X2]), mask=np.stack([mask, mask]))
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0 and 1"):
        presets.for_batches("gin")(KEY, jnp.stack([X2, X2]), mask=np.stack([mask, mask]))
    ints = np.ones((8, 9), np.int32)
    ints[0, 0] = 0
    bools = ints.astype(bool)
    np.testing.assert_array_equal(
        rc.random_conv(KEY, X2, mask=ints, normalize="zscore_restore"),
        rc.random_conv(KEY, X2, mask=bools, normalize="zscore_restore"),
    )
    ints[0, 1] = 2
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0 and 1"):
        rc.random_conv(KEY, X2, mask=ints)


def _nan_outside(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    mask = np.zeros(shape[:-1], bool)
    mask[(slice(1, -1),) * len(shape[:-1])] = True
    x[(0,) * (len(shape) - 1)] = np.nan  # one NaN voxel outside the mask
    x[(-1,) * (len(shape) - 2) + (0,)] = np.inf
    return jnp.asarray(x), mask


@pytest.mark.parametrize(
    "name",
    [
        "none",
        "frobenius",
        "zscore_restore",
        "zscore_restore_joint",
        "zscore_no_restore",
        "minmax_foreground",
        "minmax_nonzero",
        "clamp_to_input_range",
        "gin",
        "pro_randconv",
        "nnunet_rc",
        "ms_rc_3d",
    ],
)
def test_masked_out_non_finite_voxels_never_reach_the_output(name):
    x, mask = _nan_outside((8, 9, 2))
    if name in rc.NORMALIZE_MODES:
        fn = lambda k, im, m: rc.random_conv(k, im, kernel_size=(1, 3), depth=2, normalize=name, mask=m)  # noqa: E731
    elif name == "gin":
        fn = lambda k, im, m: rc.gin(k, im, mask=m)  # noqa: E731
    elif name == "pro_randconv":
        fn = lambda k, im, m: rc.pro_randconv(k, im, mask=m, max_repeats=2)  # noqa: E731
    else:
        fn = lambda k, im, m: getattr(presets, name)(probability=1.0)(k, im, mask=m)  # noqa: E731
    out = np.asarray(jax.jit(fn)(KEY, x, mask))
    assert np.isfinite(out[mask]).all(), name
    np.testing.assert_array_equal(out[~mask], np.asarray(x)[~mask])  # outside: the input, NaN included


@pytest.mark.parametrize("mode", ["zscore_restore", "zscore_restore_joint", "frobenius", "minmax_foreground"])
def test_huge_bfloat16_images_give_finite_statistics(mode):
    x = (jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, (8, 8, 3))) * 1e38).astype(jnp.bfloat16)
    out = rc.random_conv(KEY, x, normalize=mode)
    assert out.dtype == jnp.bfloat16
    assert bool(jnp.isfinite(out.astype(jnp.float32)).all()), mode
    if mode.startswith("zscore_restore"):
        np.testing.assert_allclose(
            float(out.astype(jnp.float32).mean()), float(x.astype(jnp.float32).mean()), rtol=2e-2
        )


@pytest.mark.parametrize("shape", [(3, 40, 40), (2, 40, 40, 24)], ids=["2d", "3d"])
def test_channels_first_images_are_refused_with_an_opt_out(shape):
    x = jnp.ones(shape, jnp.float32)
    with pytest.raises(ValueError, match=r"looks channels-first.*\(H, W, C\) or\s+\(D, H, W, C\)"):
        rc.random_conv(KEY, x)
    for factory in (presets.randconv, presets.ms_rc_3d, presets.gin, presets.pro_randconv):
        with pytest.raises(ValueError, match=r"channels-first"):
            factory().sample(KEY, x)
    with pytest.raises(ValueError, match=r"channels-first"):
        rc.sample_gin(KEY, x)
    with pytest.raises(ValueError, match=r"channels-first"):
        presets.for_batches("randconv")(KEY, x[None])
    # The opt-out: it really has that many channels.
    assert jax.eval_shape(lambda: rc.random_conv(KEY, x, check_layout=False)).shape == shape
    assert jax.eval_shape(lambda: presets.randconv(check_layout=False)(KEY, x)).shape == shape


def test_a_batch_given_to_random_conv_is_refused_with_an_opt_out():
    batch = jnp.ones((4, 64, 64, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"looks like a batch of 4 2D images.*jax.vmap"):
        rc.random_conv(KEY, batch)
    with pytest.raises(ValueError, match=r"looks like a batch"):
        presets.nnunet_rc()(KEY, batch[..., :2])
    assert jax.eval_shape(lambda: rc.random_conv(KEY, batch, check_layout=False)).shape == batch.shape
    volume = jnp.ones((16, 64, 64, 2), jnp.float32)  # 16 slices of 64^2: a volume
    assert jax.eval_shape(lambda: rc.random_conv(KEY, volume)).shape == volume.shape


@pytest.mark.parametrize("shape", [(0, 8, 3), (8, 0, 3), (8, 8, 0), (4, 0, 5, 2), (4, 5, 6, 0)])
def test_empty_axes_and_no_channels_are_clear_errors(shape):
    x = jnp.ones(shape, jnp.float32)
    match = r"no channels \(C = 0\)" if shape[-1] == 0 else r"an empty spatial axis"
    with pytest.raises(ValueError, match=match):
        rc.random_conv(KEY, x)
    with pytest.raises(ValueError, match=match):
        rc.gin(KEY, x)
    with pytest.raises(ValueError, match=match):
        presets.nnunet_rc()(KEY, x)
    with pytest.raises(ValueError, match=match):
        rc.convolve(x, jnp.ones((3,) * (len(shape) - 1) + (1, 1)))


def test_preset_errors_name_the_presets_own_arguments():
    with pytest.raises(ValueError, match=r"kernel_sizes must"):
        presets.randconv(kernel_sizes=(2, 4))
    with pytest.raises(ValueError, match=r"kernel_sizes must"):
        presets.gin(kernel_sizes=(3, 4))
    with pytest.raises(ValueError, match=r"kernel_sizes must"):
        presets.gin_ipa(kernel_sizes=())
    with pytest.raises(ValueError, match=r"kernel_size must"):
        presets.ms_rc_3d(kernel_size=4)
    with pytest.raises(ValueError, match=r"variant must be one of \('master', 'rc_augs'\)"):
        presets.nnunet_rc(variant="rc-augs")
    with pytest.raises(ValueError, match=r"statistics must be one of"):
        presets.nnunet_rc(statistics="global")
    with pytest.raises(ValueError, match=r"bias_seed must be an int"):
        presets.nnunet_rc(bias_seed=0.5)
    with pytest.raises(ValueError, match=r"foreground must be one of"):
        presets.ms_rc_3d(foreground="mask")
    with pytest.raises(ValueError, match=r"out_channels must be None .* or 1"):
        presets.ms_rc_3d(out_channels=2)
    with pytest.raises(ValueError, match=r"out_channels=1.*probability=1.0"):
        presets.ms_rc_3d(out_channels=1)
    with pytest.raises(ValueError, match=r"sharing must be one of"):
        presets.for_batches("gin", sharing="per_layer")
    with pytest.raises(ValueError, match=r"fork's 32 hidden maps, which 3 channels do not divide"):
        presets.nnunet_rc(variant="rc_augs")(KEY, X2)


def test_with_probability_refuses_an_augmentation_that_changes_the_shape():
    one_channel = presets.ms_rc_3d(out_channels=1, probability=1.0)
    with pytest.raises(ValueError, match=r"with_probability needs an augmentation that keeps the image's shape"):
        rc.with_probability(one_channel, 0.5)(KEY, X3)
