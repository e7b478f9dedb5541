"""The image-preprocessing contract between a CLIP checkpoint and the data side."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

# PIL's resampling codes, as stored in HF `preprocessor_config.json` files.
_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}

# OpenAI CLIP's statistics: the fallback when a checkpoint ships no preprocessor config.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImageSettings:
    """How images must be prepared for one CLIP checkpoint.

    `resize_shortest_edge` is the eval-time resize before the centre crop of
    `crop_size`; train-time random-resized-crop outputs `crop_size` directly.
    """

    crop_size: int = 224
    resize_shortest_edge: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    interpolation: str = "bicubic"

    @classmethod
    def from_preprocessor_dict(cls, config: dict) -> ImageSettings:
        """Read a HF image-processor config dict (the content of `preprocessor_config.json`)."""
        crop = config.get("crop_size", 224)
        crop_size = int(crop["height"] if isinstance(crop, dict) else crop)
        size = config.get("size", crop_size)
        if isinstance(size, dict):
            size = size.get("shortest_edge", size.get("height", crop_size))
        resample = config.get("resample", 3)
        return cls(
            crop_size=crop_size,
            resize_shortest_edge=int(size),
            mean=tuple(float(v) for v in config.get("image_mean", CLIP_MEAN)),
            std=tuple(float(v) for v in config.get("image_std", CLIP_STD)),
            interpolation=_RESAMPLE_NAMES.get(int(resample), "bicubic") if isinstance(resample, int) else "bicubic",
        )

    def to_preprocessor_dict(self) -> dict:
        """The inverse of `from_preprocessor_dict`, for writing `preprocessor_config.json`."""
        resample = {name: code for code, name in _RESAMPLE_NAMES.items()}[self.interpolation]
        return {
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": True,
            "size": {"shortest_edge": self.resize_shortest_edge},
            "do_center_crop": True,
            "crop_size": {"height": self.crop_size, "width": self.crop_size},
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
            "resample": resample,
            "do_convert_rgb": True,
        }

    def save(self, directory: str | Path) -> None:
        """Write `preprocessor_config.json` into a `save_pretrained` directory."""
        path = Path(directory) / "preprocessor_config.json"
        path.write_text(json.dumps(self.to_preprocessor_dict(), indent=2))

    def as_dict(self) -> dict:
        return asdict(self)
