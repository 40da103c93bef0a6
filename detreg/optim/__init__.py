"""detreg.optim: optimizer builders, LR schedules and the weight EMA.

- ``param_groups``: YOLOv6's norm/weight/bias split.
- ``scaling``: batch-size scaling of lr and weight decay, nominal accumulation.
- ``optimizers``: ``SGD``, ``Adam``, ``AdamW`` (registered in ``OPTIMIZERS``).
- ``schedulers``: ``CosineLR``, ``LinearLR``, ``ConstantLR`` (registered in ``SCHEDULERS``).
- ``ema``: ``ModelEMA`` (driven by ``detreg.hooks.ema.EMAHook``).
"""
