"""Default config: a 2D U-Net on phantom slices from the source scanner, RandConv augmentation.

Config files are Python: ``--config FILE`` imports ``FILE`` and calls its ``get_config()``, so a
config file runs as code; use files you trust. Every other config imports this one and changes
values; this file holds every key there is (a config cannot add keys, and ``--config.<key>=<value>``
overrides only existing keys), and the defaults live here only. ``None`` means "not set"
(``config_dict.placeholder``); a key is checked when the config is read
(:func:`train.config.check_config`), before anything is written. Keys of ``randconv.overrides``
go to the factory named by ``randconv.preset`` (:data:`train.augment.PRESETS`).
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # every random stream of the run derives from it (train/rng.py)
    c.num_steps = 2000
    c.log_every = 50  # steps between rows of metrics.jsonl
    c.ckpt_every = 500  # steps between checkpoints (and one at the last step)
    c.keep_checkpoints = 2
    c.parallel = "mesh"  # "mesh" (jit over a jax.sharding.Mesh), "pmap", or "single"
    c.variants = ()  # e.g. ("none", "randconv"): train each preset (or recipe) in workdir/<name>, compare them
    c.recipes = ml_collections.ConfigDict()  # name -> a recipe (train/configs/recipes.py) that variants can list
    c.intensity_augment = False  # nnU-Net's default intensity augmentations (train/augment/intensity.py)

    c.data = ml_collections.ConfigDict()
    c.data.source = "site_a_1.5t"  # a phantom scanner name or an nnU-Net raw data set folder
    c.data.eval_domains = ("all",)  # phantom scanners / folders; "all" = every phantom scanner
    c.data.n_train = 64  # phantom subjects for training
    c.data.n_eval = 8  # evaluation subjects (phantom) / held-out last cases (folder)
    c.data.spatial_dims = 2  # the one spatial rank: model, patches, phantom cases; 3D folders in 2D are sliced
    c.data.shape = (128, 128)  # phantom spatial shape, rank spatial_dims (180 mm field of view)
    c.data.channels = ("FLAIR", "T1w")  # phantom sequences (a folder's channels come from its dataset.json)
    c.data.patch_size = (128, 128)  # rank spatial_dims, divisible by 2 ** (len(model.features) - 1)
    c.data.batch_size = 8
    c.data.oversample_foreground = 0.33  # nnU-Net
    c.data.num_workers = 0  # loader worker processes (0: in the training process)
    c.data.target_spacing = config_dict.placeholder(tuple)  # resample folders to this spacing (mm); None: keep
    c.data.cache_dir = config_dict.placeholder(str)  # preprocessing cache for folders; None: next to the data

    c.model = ml_collections.ConfigDict()
    c.model.features = (16, 32, 64, 128)
    c.model.norm = "instance"
    c.model.conv_impl = "auto"  # "auto": fast XLA:CPU forms on CPU, lax.conv (cuDNN) on GPU/TPU; or "lax" / "cpu"
    c.model.num_classes = 2

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"  # "adamw" or "sgd" (nnU-Net's: Nesterov momentum)
    c.optim.learning_rate = 2e-3
    c.optim.schedule = "cosine"  # "constant", "cosine" (to 0) or "poly" (nnU-Net)
    c.optim.warmup_steps = 50  # linear warm-up from 0
    c.optim.weight_decay = 1e-4
    c.optim.momentum = 0.99  # sgd only (nnU-Net)
    c.optim.poly_exponent = 0.9  # "poly" only: lr * (1 - t / T) ** 0.9 (nnU-Net)
    c.optim.grad_clip_norm = config_dict.FieldReference(12.0, field_type=float)  # nnU-Net; None: no clipping

    c.randconv = ml_collections.ConfigDict()
    c.randconv.preset = "randconv"  # "none" or a name of train.augment.PRESETS
    c.randconv.batch_mode = config_dict.placeholder(str)  # "per_sample" / "per_batch"; None: the paper's
    c.randconv.chunk_size = config_dict.placeholder(int)  # images per vmap chunk; None: the whole batch
    c.randconv.probability = config_dict.placeholder(float)  # RC on this fraction of samples; None: the preset's
    c.randconv.overrides = ml_collections.ConfigDict()  # keyword arguments of the preset's factory

    c.loss = ml_collections.ConfigDict()
    c.loss.dice_weight = 1.0
    c.loss.ce_weight = 1.0
    c.loss.consistency = config_dict.placeholder(str)  # a name of train.losses.CONSISTENCY_LOSSES; None: off
    c.loss.consistency_weight = 0.0  # > 0 exactly when consistency is set
    c.loss.num_copies = 1  # augmented copies per image (>= 2 with a consistency loss)

    c.validation = ml_collections.ConfigDict()  # source-validation scores, best checkpoint, early stopping
    c.validation.every = config_dict.placeholder(int)  # steps between scores; None: no validation
    c.validation.n_cases = 8  # validation cases of the source (phantom: other subjects; folder: see data docs)
    c.validation.patience = config_dict.placeholder(int)  # stop after this many scores without improvement
    c.validation.min_delta = 0.002  # an improvement is a Dice above the best by more than this

    c.eval = ml_collections.ConfigDict()
    c.eval.overlap = 0.5  # nnU-Net
    c.eval.batch_size = 8
    c.eval.ndsc_r = 0.001  # Shifts 2022
    c.eval.iou_threshold = 0.5  # Shifts test script
    c.eval.connectivity = 1  # scipy.ndimage.label default (4/6-neighbourhood), as Shifts
    c.eval.min_lesion_size = 10  # Shifts drops components of <= 9 voxels
    return c
