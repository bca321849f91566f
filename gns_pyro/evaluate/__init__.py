"""Machine judges of generated characters: small CNN classifiers trained on the CPU.

:mod:`gns_pyro.evaluate.judges` holds the classifier two-sample test (C2ST: can a classifier
tell generated drawings from real ones?) and the classifier it is built on.
"""

from gns_pyro.evaluate.judges import (
    JudgeResult,
    JudgeSettings,
    binarize,
    held_out_groups,
    judge_accuracy,
    train_judge,
    two_sample_test,
    wilson_interval,
)

__all__ = [
    "JudgeResult",
    "JudgeSettings",
    "binarize",
    "held_out_groups",
    "judge_accuracy",
    "train_judge",
    "two_sample_test",
    "wilson_interval",
]
