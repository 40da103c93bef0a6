"""Int8 quantization with PyTorch's PT2E flow (``torchao``): PTQ, QAT, the int8 artefact.

* :mod:`detreg.quant.backend`: torchao import (one clear error when missing), export with
  dynamic batch/height/width, the X86 quantizer with ``skip`` patterns, prepare/convert.
* :mod:`detreg.quant.model`: :class:`~detreg.quant.model.QuantDetector`, a detector whose
  network is the exported (prepared or converted) graph; decoding and the loss stay float.
* :mod:`detreg.quant.artifact`: the int8 file (plain tensors, ``weights_only``) and its loader.
* :mod:`detreg.quant.onnx`: QDQ ONNX export of a converted model.
"""
