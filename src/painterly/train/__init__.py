"""Training programs for the networks that stylise in one pass.

:mod:`painterly.train.artflow` trains ArtFlow's projection flow (An et al., CVPR 2021); the
settings are one :class:`~painterly.train.config.TrainConfig`, the data comes from
:mod:`painterly.train.data` and what a run writes (checkpoint, model file, loss log) from
:mod:`painterly.train.store`. Nothing here knows of the command line.
"""
