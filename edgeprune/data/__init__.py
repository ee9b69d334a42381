"""Datasets: formats read into one sample structure, checks, image I/O, synthetic data."""

from edgeprune.data.config import DatasetConfig, read_config
from edgeprune.data.dataset import DataError, DataProblem, DetectionDataset, Sample
from edgeprune.data.images import image_size, read_image
from edgeprune.data.loader import dataset_names, load_dataset

__all__ = ["DataError", "DataProblem", "DatasetConfig", "DetectionDataset", "Sample",
           "dataset_names", "image_size", "load_dataset", "read_config", "read_image"]
