"""Detection heads of the YOLOv6 family (registered in ``HEADS``)."""
