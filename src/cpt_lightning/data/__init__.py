"""LightningDataModules for the benchmarks, few-shot / base-to-new / long-tail sampling, transforms."""

from cpt_lightning.data.coop_benchmarks import (
    Caltech101DataModule,
    DTDDataModule,
    EuroSATDataModule,
    Flowers102DataModule,
    Food101DataModule,
    OxfordPetsDataModule,
    StanfordCarsDataModule,
    SUN397DataModule,
    UCF101DataModule,
)
from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.fgvc_aircraft import FGVCAircraftDataModule
from cpt_lightning.data.huggingface import HuggingFaceDataModule
from cpt_lightning.data.image_dataset import CorruptImageError
from cpt_lightning.data.image_folder import ImageFolderDataModule
from cpt_lightning.data.imagenet import ImageNetDataModule
from cpt_lightning.data.imagenet_shift import (
    ImageNetADataModule,
    ImageNetRDataModule,
    ImageNetSketchDataModule,
    ImageNetV2DataModule,
)
from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.data.long_tailed import ImageNetLTDataModule, PlacesLTDataModule
from cpt_lightning.data.unlabelled_images import UnlabelledImagesDataModule

__all__ = [
    "Caltech101DataModule",
    "CorruptImageError",
    "DTDDataModule",
    "DatasetLayoutError",
    "EuroSATDataModule",
    "FGVCAircraftDataModule",
    "FewShotDataModule",
    "Flowers102DataModule",
    "Food101DataModule",
    "HuggingFaceDataModule",
    "ImageFolderDataModule",
    "ImageNetADataModule",
    "ImageNetDataModule",
    "ImageNetLTDataModule",
    "ImageNetRDataModule",
    "ImageNetSketchDataModule",
    "ImageNetV2DataModule",
    "OxfordPetsDataModule",
    "PlacesLTDataModule",
    "SUN397DataModule",
    "StanfordCarsDataModule",
    "UCF101DataModule",
    "UnlabelledImagesDataModule",
]
