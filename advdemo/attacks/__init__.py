"""Attacks: the math of each norm (``norms``) and loss (``losses``), one loop for FGSM, PGD and APGD in every norm
(``gradient``), the gradient-free random searches (``square`` in L-inf and L2, ``sparse_rs`` in L1), their ensemble
(``strongest``), and the one entry point that runs any attack description (``base.run``)."""

from advdemo.attacks.base import Progress, run
from advdemo.attacks.gradient import Trajectory, attack, attack_tensor, fgsm, pgd, pgd_trajectory
from advdemo.attacks.sparse_rs import sparse_rs_attack
from advdemo.attacks.square import square_attack
from advdemo.attacks.strongest import Converged, converge, member_costs, strongest_attack

__all__ = ["Converged", "Progress", "Trajectory", "attack", "attack_tensor", "converge", "fgsm", "member_costs",
           "pgd", "pgd_trajectory", "run", "sparse_rs_attack", "square_attack", "strongest_attack"]
