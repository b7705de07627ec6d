"""advdemo: adversarial examples and adversarial regularization on MNIST, in Keras 3.

Modules, one concept each: ``config`` (typed settings), ``norms`` (the math of each norm), ``attacks``
(FGSM/PGD), ``models`` (the tutorial's CNN), ``data`` (MNIST and the bundled gallery), ``training``
(adversarial regularization), ``evaluation`` (honest robustness figures), ``cards`` (model cards),
``registry`` (the model roster: the bundled models and the user's own).
"""

import os
from pathlib import Path

__version__ = "0.1.0"

#: Folder of the bundled models, their cards and the digit gallery (``$ADVDEMO_PRETRAINED`` overrides it).
PRETRAINED_DIR = Path(os.environ.get("ADVDEMO_PRETRAINED") or Path(__file__).resolve().parent.parent / "pretrained")
