"""Training: adversarial regularization as a Keras ``train_step`` (``adversarial``), the training job with
progress, cancel and an ETA (``jobs``), run in a child process of low priority (``child``), and the sidebar's
presets (``presets``).

Nothing is imported here: ``child`` must start without TensorFlow (see its docstring).
"""
