"""cnnlab: a desktop lab for watching a from-scratch NumPy convolutional network learn.

Floors (see DESIGN): ``engine`` and ``data`` are pure NumPy, ``training`` drives them without Qt,
``app`` is the only floor that knows PySide6 and pyqtgraph.
"""

__version__ = "0.1.0"
