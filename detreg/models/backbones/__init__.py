"""Backbones of the YOLOv6 family (registered in ``BACKBONES``)."""
