"""Label-free datasets: ImageFolder (inference) and UnlabeledDataset (semi-supervised)."""

from __future__ import annotations

from typing import Annotated, Any

from detreg.data.base import BaseDataset, Item, SampleKey, finalize
from detreg.data.io import list_images
from detreg.data.scan import scan
from detreg.data.transforms.base import Sample, transform_name
from detreg.data.yolo import stem_ids
from detreg.errors import DetregError
from detreg.registry import DATASETS, TRANSFORMS


@DATASETS.register()
class ImageFolder(BaseDataset):
    """Images without labels (folder, ``.txt`` list, single image or a list), for inference.

    With no ``transforms`` a sample is the image resized (long side ``img_size``) and
    letterboxed; ``ratio_pad`` maps predictions back to original pixels. Unreadable images
    are reported and skipped. ``cache`` writes no scan cache by default (inference folders
    are often read-only or one-off).
    """

    def __init__(
        self, img_path: str | list[str], root: str | None = None, cache: bool = False, **kwargs: Any
    ) -> None:
        self.img_path = img_path
        self.root = root
        self.cache = cache
        super().__init__(**kwargs)

    def _load_items(self) -> list[Item]:
        images = list_images(self.img_path, self.root)
        if not images:
            raise DetregError(f"no images found in {self.img_path}")
        report = scan(images, None, None, cache_path=self.cache, progress=len(images) > 100)
        self._log_report(report, str(self.img_path))
        items = [
            Item(r.path, i, r.shape) for r, i in zip(report.results, stem_ids(images)) if r.usable and r.shape
        ]
        if not items:
            raise DetregError(f"no readable images in {self.img_path}")
        return items


@DATASETS.register()
class UnlabeledDataset(ImageFolder):
    """Unlabelled images for semi-supervised training.

    ``transforms`` make the weak view (``img``); when ``strong_transforms`` is given, they
    run on a copy of the weak view (photometric augs such as ColorJitter, GaussianBlur,
    RandomGrayscale, RandomErasing, so boxes stay shared) to make ``img_strong``, and
    batches carry both. Scan cache on by default (training data).
    """

    def __init__(
        self,
        img_path: str | list[str],
        strong_transforms: Annotated[list | None, TRANSFORMS] = None,
        cache: bool = True,
        **kwargs: Any,
    ) -> None:
        self.strong_transforms = list(strong_transforms or [])
        super().__init__(img_path, cache=cache, **kwargs)

    def all_transforms(self) -> list[Any]:
        """Weak and strong transforms."""
        return [*self.transforms, *self.strong_transforms]

    def __getitem__(self, key: int | SampleKey) -> Sample:
        if not self.strong_transforms:
            return super().__getitem__(key)
        if not isinstance(key, tuple):
            key = self.key(int(key))
        weak = super().__getitem__(key)
        index, epoch, seed, disabled = key
        ctx = self.context(index, epoch, seed, tuple(disabled))
        ctx.rng = ctx.rng.spawn(1)[0]  # strong view: its own stream, same (seed, epoch, index)
        strong = dict(weak)
        for t in self.strong_transforms:
            if transform_name(t) not in disabled:
                strong = t(strong, ctx)
        weak["img_strong"] = strong["img"]
        return finalize(weak, ctx.shape)
