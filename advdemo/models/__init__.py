"""Models: the tutorial's CNN and its ``.keras`` files (``network``), the bundled models (``bundled``), model cards
(``cards``) and the roster of bundled and user models (``registry``)."""

from advdemo.models.network import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    PARAMETER_COUNT,
    ModelFileError,
    build_cnn,
    load_model,
    predict_logits,
    predictions,
    save_model,
    with_compute_precision,
)

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "PARAMETER_COUNT", "ModelFileError", "build_cnn", "load_model",
           "predict_logits", "predictions", "save_model", "with_compute_precision"]
