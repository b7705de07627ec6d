"""The Streamlit app's building blocks (``app.py`` composes them).

Only this package and ``app.py`` import Streamlit, and not all of it: ``analysis``, ``card_figures`` and
``charts`` are plain Python (the computations, the model-card figures, the pictures), while ``state``,
``resources``, ``inputs``, ``controls``, ``results`` and ``style`` are the Streamlit layer.
"""
