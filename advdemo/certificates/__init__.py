"""Certificates: proofs that no perturbation of a given size changes a model's answer, the lower bound on robust
accuracy that an attack (an upper bound) cannot give. ``ibp``: interval bound propagation in L-inf."""

from advdemo.certificates.ibp import certified, certified_radius, logit_bounds, margin_bounds, verified_accuracy

__all__ = ["certified", "certified_radius", "logit_bounds", "margin_bounds", "verified_accuracy"]
