"""The README's main job: a 2D U-Net on the built-in phantom, without and with RandConv.

Trains on the source scanner only and evaluates every scanner, then prints the per-domain
table (``results.txt`` in the work dir) and where the summaries, figures and checkpoints are.
About 10 minutes on 2 CPU cores (10 min 17 s measured, on a 2-core machine shared with other work).
"""

from train.configs import default


def get_config():
    c = default.get_config()
    c.variants = ("none", "randconv")
    c.num_steps = 400
    c.log_every = 25
    c.ckpt_every = 200
    c.data.n_train = 48
    c.data.n_eval = 8
    c.data.shape = (96, 96)
    c.data.patch_size = (96, 96)
    c.data.batch_size = 8
    c.model.features = (16, 32, 64)
    c.optim.warmup_steps = 20
    return c
