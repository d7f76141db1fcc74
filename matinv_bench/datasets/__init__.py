"""Dataset registry. Importing this package registers every dataset family.

>>> from matinv_bench.datasets import make_dataset
>>> data = make_dataset("randsvd[n=16,cond=1e8]", n_test=32, seed=0)
"""

from matinv_bench.datasets import boxes, exact, files, synthetic  # noqa: F401  (registration)
from matinv_bench.datasets.base import DATASETS, Dataset, MatrixSet, Sample, box_theta, make_dataset, register
from matinv_bench.datasets.boxes import BASES, paper_box
from matinv_bench.errors import DataFileError

__all__ = [
    "BASES",
    "DATASETS",
    "DataFileError",
    "Dataset",
    "MatrixSet",
    "Sample",
    "box_theta",
    "make_dataset",
    "paper_box",
    "register",
]
