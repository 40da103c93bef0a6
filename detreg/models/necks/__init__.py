"""Necks of the YOLOv6 family (registered in ``NECKS``)."""
