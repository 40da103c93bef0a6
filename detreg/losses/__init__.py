"""detreg.losses: VFL, IoU-family, DFL and the composite YOLOv6 loss."""
