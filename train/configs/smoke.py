"""Seconds-long config for tests: tiny phantom, tiny U-Net, a few steps, two domains."""

from train.configs import default


def get_config():
    c = default.get_config()
    c.num_steps = 4
    c.log_every = 2
    c.ckpt_every = 2
    c.parallel = "single"
    c.data.n_train = 4
    c.data.n_eval = 1
    c.data.shape = (32, 32)
    c.data.patch_size = (32, 32)
    c.data.batch_size = 2
    c.data.eval_domains = ("site_a_1.5t", "site_e_3t_ti2500")
    c.model.features = (4, 8)
    c.optim.warmup_steps = 0
    c.eval.batch_size = 2
    return c
