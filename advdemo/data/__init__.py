"""Data: MNIST from a Keras-format ``mnist.npz``, the bundled gallery of test digits, and ``preprocess`` (turning a
drawing or an uploaded picture into an MNIST-like 28x28 digit). No TensorFlow."""

from advdemo.data.mnist import (
    GALLERY_PATH,
    MNIST_ENV,
    Gallery,
    Split,
    describe_source,
    load_gallery,
    load_mnist,
    resolve_mnist_path,
    to_model_input,
)

__all__ = ["GALLERY_PATH", "MNIST_ENV", "Gallery", "Split", "describe_source", "load_gallery", "load_mnist",
           "resolve_mnist_path", "to_model_input"]
