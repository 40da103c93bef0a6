"""detreg: a plugin-registry object-detection toolbox (YOLOv6 family, PyTorch).

Importing ``detreg`` is cheap; heavy modules (torch, cv2) load when a component is used.
"""

__version__ = "0.1.0"
