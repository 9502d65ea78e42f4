"""Default config: a 2D U-Net on phantom slices from the source scanner, RandConv augmentation.

Every other config imports this one and changes what it needs. Keys of ``randconv.overrides``
go to the ``randconv_jax.presets`` factory named by ``randconv.preset``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_steps = 2000
    c.log_every = 50
    c.ckpt_every = 500
    c.keep_checkpoints = 2
    c.parallel = "mesh"  # "mesh" (jit over a jax.sharding.Mesh), "pmap", or "single"
    c.variants = ()  # e.g. ("none", "randconv"): train each preset and compare them
    c.intensity_augment = False  # nnU-Net's default intensity augmentations (train/augment/intensity.py)

    c.data = ml_collections.ConfigDict()
    c.data.source = "site_a_1.5t"  # a phantom scanner name or an nnU-Net raw data set folder
    c.data.eval_domains = ("all",)  # phantom scanners / folders; "all" = every phantom scanner
    c.data.n_train = 64  # phantom subjects for training
    c.data.n_eval = 8  # evaluation subjects (phantom) / held-out last cases (folder)
    c.data.dims = 2  # phantom: 2D slices or 3D volumes
    c.data.shape = (128, 128)  # phantom spatial shape (180 mm field of view)
    c.data.channels = ("FLAIR", "T1w")
    c.data.spatial_dims = 2  # model rank: 2 (slices/images) or 3 (patches)
    c.data.patch_size = (128, 128)
    c.data.batch_size = 8
    c.data.oversample_foreground = 0.33  # nnU-Net
    c.data.num_workers = 0
    c.data.target_spacing = config_dict.placeholder(tuple)  # resample folders to this spacing (mm)
    c.data.cache_dir = ""  # preprocessing cache for folders ("" = next to the data)

    c.model = ml_collections.ConfigDict()
    c.model.features = (16, 32, 64, 128)
    c.model.norm = "instance"
    c.model.num_classes = 2

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"
    c.optim.learning_rate = 2e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 50
    c.optim.weight_decay = 1e-4
    c.optim.grad_clip_norm = 12.0  # nnU-Net

    c.randconv = ml_collections.ConfigDict()
    c.randconv.preset = "randconv"  # "none" or a name of randconv_jax.presets.BATCH_MODE
    c.randconv.batch_mode = ""  # "" = the preset paper's sharing, or "per_sample" / "per_batch"
    c.randconv.chunk_size = 0  # 0 = vmap the whole batch
    c.randconv.overrides = ml_collections.ConfigDict()

    c.loss = ml_collections.ConfigDict()
    c.loss.dice_weight = 1.0
    c.loss.ce_weight = 1.0
    c.loss.consistency = ""  # a randconv_jax.losses function, with num_copies >= 2
    c.loss.consistency_weight = 0.0
    c.loss.num_copies = 1

    c.eval = ml_collections.ConfigDict()
    c.eval.overlap = 0.5  # nnU-Net
    c.eval.batch_size = 8
    c.eval.ndsc_r = 0.001  # Shifts 2022
    c.eval.iou_threshold = 0.5  # Shifts test script
    c.eval.connectivity = 1  # scipy.ndimage.label default (4/6-neighbourhood), as Shifts
    c.eval.min_lesion_size = 10  # Shifts drops components of <= 9 voxels
    return c
