"""NumPy transcriptions of the original implementations' forward passes (float64).

Each function follows one file of one public repository at one commit, statement by
statement, with PyTorch / Keras semantics spelled out (channels-first ``(N, C, *spatial)``
tensors for PyTorch, channels-last for Keras). Random draws are arguments: the tests feed
the draws a ``randconv_jax`` preset sampled, so the two forward passes can be compared.
Nothing here imports ``randconv_jax``.

Sources (file at commit):

* ``wildphoton/RandConv`` ``861a2319dc2861361997f20e97444f231d08db55``:
  ``lib/networks/rand_conv.py`` (``RandConvModule.forward``, ``RandConv2d``).
* ``daniel-scholz/nnUNet`` master ``77dedc7e4e11d871d79da6020446f70eefe9e201`` and branch
  ``rc-augs`` ``9ee43a3b991c74b6abd8fa8bd851b98f12e4815d``:
  ``nnunetv2/training/data_augmentation/custom_transforms/random_convolution.py``
  (``RandomConvolutionTransform.__call__``) and
  ``nnunetv2/training/nnUNetTrainer/variants/data_augmentation/nnUNetTrainerRC.py``.
* ``ai-idt/rc_aug`` ``772437fe8734ad7fcf7201408fe3d4db1c9c0ae0``: ``randconv.py``
  (``randConv_linear`` and the renormalization example below it).
* ``cheng-01037/Causality-Medical-Image-Domain-Generalization``
  ``d4d5056ded88951fc3967f8f294f4a12420e13c6``: ``models/imagefilter.py`` and
  ``models/imagefilter3d.py`` (``GradlessGCReplayNonlinBlock``, ``GINGroupConv``),
  ``biasfield_interpolate_cchen/adv_bias.py`` (``AdvBias``), ``biasfield_interpolate_cchen/utils.py``
  (``rescale_intensity``), ``biasfield_interpolate_cchen/adv_transformation_base.py``
  (``unit_normalize``) and ``models/exp_trainer.py`` (``set_input_aug_sup``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# --------------------------------------------------------------------------- PyTorch building blocks


def torch_conv(x, weight, bias=None, *, padding, groups=1):
    """``F.conv2d`` / ``F.conv3d``: cross-correlation, zero padding, stride 1, dilation 1.

    ``x (N, C_in, *S)``, ``weight (C_out, C_in / groups, *k)``, ``bias (C_out,)``;
    ``padding`` an int (``k // 2``) or ``"same"`` (odd k: the same).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(weight, np.float64)
    n, c_in, *spatial = x.shape
    c_out, cin_g, *ks = w.shape
    assert c_in == cin_g * groups and c_out % groups == 0
    pads = [k // 2 for k in ks] if padding == "same" else [padding] * len(ks)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads])
    out_spatial = [s + 2 * p - k + 1 for s, p, k in zip(spatial, pads, ks, strict=True)]
    out = np.zeros((n, c_out, *out_spatial))
    cout_g = c_out // groups
    for o in range(c_out):
        g = o // cout_g
        for tap in itertools.product(*(range(k) for k in ks)):
            window = tuple(slice(t, t + s) for t, s in zip(tap, out_spatial, strict=True))
            for i in range(cin_g):
                out[:, o] += w[(o, i) + tap] * xp[(slice(None), g * cin_g + i) + window]
    if bias is not None:
        out += np.asarray(bias, np.float64).reshape((1, c_out) + (1,) * len(ks))
    return out


def torch_std(x, axes):
    """``Tensor.std(dim=axes, keepdim=True)``: Bessel-corrected (``unbiased=True``)."""
    return np.std(x, axis=axes, keepdims=True, ddof=1)


def leaky_relu(x, slope=0.01):
    """``F.leaky_relu`` with its default slope."""
    return np.where(x >= 0, x, slope * x)


# --------------------------------------------------------------------------- RandConv


def randconv_module_forward(x, weight, *, identity, alpha=None):
    """``RandConvModule.forward`` of the official RandConv, defaults of the digits scripts.

    ``x (N, C, H, W)``; ``weight (C, C, k, k)`` (``RandConv2d.randomize``: ``rand_bias`` off);
    ``identity``: the outcome of ``torch.rand(1) < identity_prob``; ``alpha``: the mixing
    weight drawn by ``randomize()`` (``mixing=True``), None without mixing. ``clamp_output``
    is off in the paper runs.
    """
    if identity:
        return np.asarray(x, np.float64)
    k = weight.shape[-1]
    output = torch_conv(x, weight, padding=k // 2)  # Conv2d(padding=k // 2), bias=False
    if alpha is not None:
        output = alpha * output + (1 - alpha) * np.asarray(x, np.float64)
    return output


# --------------------------------------------------------------------------- nnU-Net fork


def nnunet_rc_master(image, conv_weights, conv_biases, out_weight, out_bias):
    """``RandomConvolutionTransform.__call__`` at master ``77dedc7`` (``updown_sampling=False``).

    ``image (C, *S)`` (one sample, as the data loader passes it); ``conv_weights`` /
    ``conv_biases``: the ``conv_layers`` (``Conv3d(..., padding="same", groups=C)``: the first
    ``C -> h_hidden_channels``, then ``range(1, n_hidden_layers - 1)`` more, none for the
    trainer's ``n_hidden_layers=2``), ``out_weight`` / ``out_bias``: ``img_out``
    (``Conv3d(h, C, kernel_size=1, groups=C)``). ``non_linearity=False``.
    """
    c = image.shape[0]
    x = np.asarray(image, np.float64)[None]  # add batch dimension
    dims = tuple(range(1, x.ndim))  # (C, D, H, W): one mean and one std over all modalities
    mean = x.mean(axis=dims, keepdims=True)
    std = torch_std(x, dims) + 1e-5
    for w, b in zip(conv_weights, conv_biases, strict=True):
        x = torch_conv(x, w, b, padding="same", groups=c)
    x = torch_conv(x, out_weight, out_bias, padding="same", groups=c)
    x = (x - x.mean(axis=dims, keepdims=True)) / (torch_std(x, dims) + 1e-5)
    x = x * std + mean
    return x[0]


def nnunet_rc_branch(image, conv_weights, conv_biases, out_weight, out_bias, *, skip):
    """``RandomConvolutionTransform.__call__`` at branch ``rc-augs`` ``9ee43a3``.

    ``skip``: the outcome of ``np.random.rand() < self.p`` (p = 0.5): the transform returns
    the sample unchanged. Otherwise the layers (``n_hidden_layers=4``: ``C -> 32`` then two
    ``32 -> 32`` 3^3 convs, ``groups=C``, then ``img_out`` 1^3 ``32 -> C``), and per channel
    ``(x - mean) / (std + 1e-5)`` (dims 1.. of the squeezed ``(C, *S)``), no restore.
    """
    if skip:
        return np.asarray(image, np.float64)
    c = image.shape[0]
    x = np.asarray(image, np.float64)[None]
    for w, b in zip(conv_weights, conv_biases, strict=True):
        x = torch_conv(x, w, b, padding="same", groups=c)
    x = torch_conv(x, out_weight, out_bias, padding="same", groups=c)
    x = x[0]
    dims = tuple(range(1, x.ndim))
    return (x - x.mean(axis=dims, keepdims=True)) / (torch_std(x, dims) + 1e-5)


# --------------------------------------------------------------------------- rc_aug (Keras)


def keras_conv_same(x, kernel):
    """``Conv3D(filters, k, strides=1, padding="same")`` (or Conv2D) with zero bias, channels last.

    ``x (*S, C_in)``, ``kernel (*k, C_in, filters)``: Keras' kernel layout, cross-correlation.
    """
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    ks = kernel.shape[:-2]
    spatial = x.shape[:-1]
    xp = np.pad(x, [(k // 2, k // 2) for k in ks] + [(0, 0)])
    out = np.zeros(spatial + (kernel.shape[-1],))
    for tap in itertools.product(*(range(k) for k in ks)):
        window = tuple(slice(t, t + s) for t, s in zip(tap, spatial, strict=True))
        out += xp[window] @ kernel[tap]
    return out  # bias_initializer="zeros"


def rc_aug_linear(img, kernels):
    """``randConv_linear`` (``n_layers=3, k=3, n_filters=1``) applied, then the example's renorm.

    ``img (*S, C)`` in [0, 1]; ``kernels``: the model's three Conv3D kernels (``C -> 1``,
    ``range(1, n_layers - 1)`` = one ``1 -> 1``, then ``filters=1``). Then, as the example
    below the model: ``np.squeeze``, ``img[img != 0] -= img[img != 0].min()``,
    ``img /= img.max()``. Returns ``(*S,)`` (squeezed).
    """
    y = np.asarray(img, np.float64)
    for kernel in kernels:
        y = keras_conv_same(y, kernel)
    y = np.squeeze(y, axis=-1).copy()
    y[y != 0] -= y[y != 0].min()
    y /= y.max()
    return y


# --------------------------------------------------------------------------- GIN and IPA


def gin_block(x_in, ker, shift, *, use_act):
    """``GradlessGCReplayNonlinBlock.forward`` (2D or 3D) with the drawn ``ker`` and ``shift``.

    ``x_in (nb, nc, *S)``; ``ker (out * nb, in, *k)`` and ``shift (out * nb, 1, ...)``: the
    per-sample kernels of one call, ``k`` shared by the batch (``idx_k`` is drawn once).
    """
    nb, nc, *spatial = x_in.shape
    k = ker.shape[-1]
    x = np.asarray(x_in, np.float64).reshape((1, nb * nc, *spatial))
    x_conv = torch_conv(x, ker, padding=k // 2, groups=nb)
    x_conv = x_conv + np.asarray(shift, np.float64).reshape((1, -1) + (1,) * len(spatial))
    if use_act:
        x_conv = leaky_relu(x_conv)
    return x_conv.reshape((nb, -1, *spatial))


def gin_group_conv(x_in, layers, alphas):
    """``GINGroupConv.forward`` / ``GINGroupConv3D.forward`` (``out_norm='frob'``).

    ``layers``: ``[(ker, shift), ...]`` per block in order (the last has ``use_act=False``);
    ``alphas (nb,)``: ``torch.rand(nb)``.
    """
    x_in = np.asarray(x_in, np.float64)
    nb, nc = x_in.shape[:2]
    d = x_in.ndim - 2
    a = np.asarray(alphas, np.float64).reshape((nb,) + (1,) * (d + 1))
    x = x_in
    for n, (ker, shift) in enumerate(layers):
        x = gin_block(x, ker, shift, use_act=n < len(layers) - 1)
    mixed = a * x + (1.0 - a) * x_in
    in_frob = np.sqrt(np.sum(x_in.reshape(nb, -1) ** 2, axis=1)).reshape((nb,) + (1,) * (d + 1))
    self_frob = np.sqrt(np.sum(mixed.reshape(nb, -1) ** 2, axis=1)).reshape((nb,) + (1,) * (d + 1))
    return mixed * (1.0 / (self_frob + 1e-5)) * in_frob


def _unit_normalize_l2(d):
    """``AdvTransformBase.unit_normalize(d, p_type='l2')``."""
    d = np.asarray(d, np.float64).copy()
    d_abs_max = np.max(np.abs(d.reshape(d.shape[0], -1)), axis=1).reshape((d.shape[0],) + (1,) * (d.ndim - 1))
    d /= 1e-20 + d_abs_max
    d /= np.sqrt(1e-6 + np.sum(d**2, axis=tuple(range(1, d.ndim)), keepdims=True))
    return d


def _bspline_kernel_2d(sigma, order):
    """``bspline_kernel_2d(sigma, order)``: repeated box filtering with ``F.conv2d`` padding ``i * sigma``."""
    ones = np.ones((1, 1, *sigma))
    kernel = ones
    for i in range(1, order + 1):
        kernel = torch_conv_padded(kernel, ones, (i * sigma[0], i * sigma[1])) / (sigma[0] * sigma[1])
    return kernel[0, 0]


def torch_conv_padded(x, w, pads):
    """``F.conv2d(x, w, padding=pads)`` for one channel (explicit per-axis padding)."""
    x = np.asarray(x, np.float64)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads])
    kh, kw = w.shape[-2:]
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    out = np.zeros((1, 1, oh, ow))
    for i in range(kh):
        for j in range(kw):
            out[0, 0] += w[0, 0, i, j] * xp[0, 0, i : i + oh, j : j + ow]
    return out


def _conv_transpose2d(x, kernel, padding, stride):
    """``F.conv_transpose2d(x (N, 1, h, w), kernel (1, 1, kh, kw), padding, stride)``."""
    n, _, h, w = x.shape
    kh, kw = kernel.shape[-2:]
    full = np.zeros((n, 1, (h - 1) * stride[0] + kh, (w - 1) * stride[1] + kw))
    for a in range(h):
        for b in range(w):
            full[:, :, a * stride[0] : a * stride[0] + kh, b * stride[1] : b * stride[1] + kw] += (
                x[:, :, a : a + 1, b : b + 1] * kernel[0, 0]
            )
    return full[:, :, padding[0] : full.shape[2] - padding[0], padding[1] : full.shape[3] - padding[1]]


def _upsample_bilinear_align_corners(x, out_size):
    """``nn.Upsample(scale_factor, mode='bilinear', align_corners=True)`` to ``out_size``."""
    n, c, h, w = x.shape
    oh, ow = out_size

    def axis_weights(m, size):
        pos = np.arange(size) * ((m - 1) / (size - 1)) if size > 1 else np.zeros(1)
        lo = np.clip(np.floor(pos).astype(int), 0, m - 1)
        hi = np.clip(lo + 1, 0, m - 1)
        return lo, hi, pos - lo

    ly, hy, fy = axis_weights(h, oh)
    lx, hx, fx = axis_weights(w, ow)
    top = x[:, :, ly][:, :, :, lx] * (1 - fx) + x[:, :, ly][:, :, :, hx] * fx
    bottom = x[:, :, hy][:, :, :, lx] * (1 - fx) + x[:, :, hy][:, :, :, hx] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def _rescale_intensity(data, new_min=0.0, new_max=1.0, eps=1e-20):
    """``rescale_intensity`` (per sample and channel min-max)."""
    bs, c = data.shape[:2]
    flat = data.reshape(bs * c, -1)
    old_max = flat.max(axis=1, keepdims=True)
    old_min = flat.min(axis=1, keepdims=True)
    new = (flat - old_min + eps) / (old_max - old_min + eps) * (new_max - new_min) + new_min
    return new.reshape(data.shape)


def ipa_blend_mask(control, image_size, *, spacing=24, downscale=2, order=2, epsilon=0.3):
    """The blend mask of ``set_input_aug_sup``: ``rescale_intensity(AdvBias.bias_field)``.

    ``control (N, 1, gh, gw)``: the ``normal_(0, 1)`` control points of ``init_bias_field``
    (``init_mode='gaussian'``); ``image_size (H, W)``. Follows ``init_bias_field``,
    ``get_bspline_kernel``, ``compute_smoothed_bias`` and ``rescale_bias``. Returns ``(N, H, W)``.
    """
    stride = np.array([spacing, spacing])
    size = np.array(image_size, float)
    cp_grid = np.ceil(np.divide(size / (1.0 * downscale), stride)).astype(int)
    inner = np.multiply(stride, cp_grid) - (stride - 1)
    diff = inner - size / (1.0 * downscale)
    diff_floor = np.floor(np.abs(diff) / 2) * np.sign(diff)
    crop_start = (diff_floor + np.remainder(diff, 2) * np.sign(diff)).astype(int)
    crop_end = diff_floor.astype(int)
    assert control.shape[2:] == tuple(cp_grid + 2), (control.shape, cp_grid + 2)
    param = _unit_normalize_l2(control)
    kernel = _bspline_kernel_2d([spacing, spacing], order)[None, None]
    padding = ((np.array(kernel.shape[2:]) - 1) / 2).astype(int)
    field = _conv_transpose2d(param, kernel, padding, stride)
    field = field[
        :,
        :,
        stride[0] + crop_start[0] : field.shape[2] - stride[0] - crop_end[0],
        stride[1] + crop_start[1] : field.shape[3] - stride[1] - crop_end[1],
    ]
    scale_factor = image_size[0] / field.shape[2]
    if scale_factor > 1:
        out_size = (math.floor(field.shape[2] * scale_factor), math.floor(field.shape[3] * scale_factor))
        field = _upsample_bilinear_align_corners(field, out_size)
    field = np.exp(field)
    field = _rescale_intensity(field, 1 - epsilon, 1 + epsilon)  # rescale_bias
    return _rescale_intensity(field)[:, 0]  # set_input_aug_sup: rescale_intensity(bias_field)


def gin_ipa_copies(a, b, blend):
    """``set_input_aug_sup``: ``[a * m + b * (1 - m), a * (1 - m) + b * m]`` (``blend (N, H, W)``)."""
    m = np.asarray(blend, np.float64)[:, None]
    return a * m + b * (1.0 - m), a * (1 - m) + b * m
