"""3D patches with the MS group's per-modality RC (nnU-Net transform); sized for a GPU.

Phantom volumes by default; point ``data.source`` / ``data.eval_domains`` at nnU-Net raw data
set folders to train on real data.
"""

from train.configs import default


def get_config():
    c = default.get_config()
    c.num_steps = 20000
    c.log_every = 100
    c.ckpt_every = 1000
    c.data.shape = (128, 128, 128)
    c.data.n_train = 200
    c.data.n_eval = 20
    c.data.spatial_dims = 3
    c.data.patch_size = (96, 96, 96)
    c.data.batch_size = 2
    c.model.features = (32, 64, 128, 256, 320)
    c.optim.name = "sgd"  # nnU-Net: SGD, Nesterov 0.99, lr 1e-2, poly 0.9, weight decay 3e-5
    c.optim.learning_rate = 1e-2
    c.optim.momentum = 0.99
    c.optim.schedule = "poly"
    c.optim.warmup_steps = 0
    c.optim.weight_decay = 3e-5
    c.randconv.preset = "nnunet_rc"
    c.eval.batch_size = 2
    return c
