"""The domain-generalization study on 3D phantom volumes with 3D patches: for a GPU.

``python -m train.study --config train/configs/study_3d.py --workdir DIR``

Same methods, seeds and sweep as ``study_2d``, with the 3D presets in their native form
(``ms_rc_3d``, ``nnunet_rc`` on 3³ kernels), 3D U-Net on 64³ patches of 96³ volumes. The report
goes to ``docs/results_3d.md``.
"""

from train.configs import study_2d


def get_config(size: str = "full"):
    c = study_2d.get_config(size)
    c.data.spatial_dims = 3
    if size == "full":
        c.num_steps = 2000
        c.log_every = 100
        c.ckpt_every = 1000
        c.data.shape = (96, 96, 96)
        c.data.patch_size = (64, 64, 64)
        c.data.batch_size = 2
        c.data.n_train = 40
        c.data.n_eval = 8
        c.model.features = (16, 32, 64, 128)
        c.eval.batch_size = 4
        methods = c.study.methods
        for name_2d, name_3d in (("ms_rc_2d", "ms_rc_3d"), ("nnunet_rc_2d", "nnunet_rc")):
            methods[name_3d] = methods[name_2d]
            del methods[name_2d]
        c.study.report = "docs/results_3d.md"
    else:
        c.data.shape = (32, 32, 32)
        c.data.patch_size = (16, 16, 16)
        c.data.batch_size = 1
    return c
