"""detreg.data: everything between files on disk and a training batch.

Modules (one job each):

- ``yolo``, ``coco``, ``folder``: the registered datasets (``YOLODataset``, ``COCODataset``,
  ``ImageFolder``, ``UnlabeledDataset``); ``base`` holds their shared machinery.
- ``data_yaml``: YOLOv6/Ultralytics data yaml files -> a config ``data:`` fragment.
- ``io``, ``checks``, ``scan``: listing files, verifying images and labels, the scan cache.
- ``transforms``: registered transforms and their interface (``transforms/base.py``).
- ``pipelines``: default transform lists (YOLOv6 training / validation, strong semi aug).
- ``rect``, ``collate``, ``loader``: rect shapes, the batch contract, ``build_dataloader``.
- ``draw``, ``convert``, ``cli``: ``draw_batch``, YOLO <-> COCO, ``detreg data ...``.
- ``synth``: the synthetic shapes dataset generator.

Importing this package is cheap; submodules import torch/cv2.
"""
