"""The domain-generalization study on 3D phantom volumes with 3D patches: for a GPU.

``python -m train.study --config train/configs/study_3d.py --workdir DIR``

Same methods, seeds and rule as ``study_2d`` (3³ kernels in 3D), plus the MS group's own 3D
preset ``ms_rc_3d``; 3D U-Net on 64³ patches of 96³ volumes. The report goes to
``docs/results_3d.md``, its data to ``docs/results/study_3d_*``.
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
        c.validation.every = 200
        c.study.methods.ms_rc_3d = c.study.methods.ms_rc_p05.copy_and_resolve_references()
        c.study.methods.ms_rc_3d.preset, c.study.methods.ms_rc_3d.overrides = "ms_rc_3d", {}
        c.study.name = "study_3d"
        c.study.report = "docs/results_3d.md"
    else:
        c.data.shape = (32, 32, 32)
        c.data.patch_size = (16, 16, 16)
        c.data.batch_size = 1
    return c
