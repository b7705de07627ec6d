"""Evaluation: which figures a model card carries (``suite``), measuring them (``measure``), and reading them
back and checking them (``checks``).

Follows the checklist of Athalye et al. 2018, Carlini et al. 2019 and Croce & Hein 2020: attack the model under
test on its own logits (white-box) and label transfer figures as such; PGD from a random start with 40 steps of
eps/10 and several restarts, worst case per example; the strongest attack (APGD-CE, APGD-T and a gradient-free
random search, worst case per example) behind every headline figure, its budget doubled until a doubling no
longer moves the figure; then the sanity checks of ``checks``.
"""

from advdemo.evaluation.checks import (
    UNCONVERGED,
    bracket_check,
    certified_figure,
    converged,
    doubling_check,
    find_entry,
    sanity_checks,
    strongest_entry,
)
from advdemo.evaluation.measure import (
    SpecProgress,
    accuracy,
    adversarial_images,
    certify,
    converged_images,
    doubling_record,
    evaluate,
)
from advdemo.evaluation.suite import (
    CERTIFIED_EPSILONS,
    DOUBLING_TOLERANCE,
    HEADLINE_EPSILONS,
    IBP,
    LARGE_EPSILONS,
    MAX_DOUBLINGS,
    STANDARD_SUITE,
    SWEEP_EPSILONS,
    WHITE_BOX,
    AttackSpec,
    certified_entry,
    headline_pgd,
    large_eps_pgd,
    large_eps_spec,
    sweep_suite,
)

__all__ = ["CERTIFIED_EPSILONS", "DOUBLING_TOLERANCE", "IBP", "bracket_check", "certified_entry", "certified_figure",
           "certify", "HEADLINE_EPSILONS", "LARGE_EPSILONS", "MAX_DOUBLINGS", "STANDARD_SUITE",
           "SWEEP_EPSILONS", "UNCONVERGED", "WHITE_BOX", "AttackSpec", "SpecProgress", "accuracy",
           "adversarial_images", "converged", "converged_images", "doubling_check", "doubling_record", "evaluate",
           "find_entry", "headline_pgd", "large_eps_pgd", "large_eps_spec", "sanity_checks", "strongest_entry",
           "sweep_suite"]
