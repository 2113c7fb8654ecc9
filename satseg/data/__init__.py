"""Patch sampling, augmentation and the ``tf.data`` input pipeline.

::

    from satseg.data import (ImageArrays, load_image_arrays, channel_stats, normalise,
                             PatchSampler, AugmentConfig, augment_patch, dihedral,
                             dihedral_inverse, PatchStream, split_ids, group_of, Split,
                             labels_are_exclusive, targets_are_exclusive, exclusive_scores,
                             cached, default_cache_dir)

Importing this package does not import TensorFlow; :meth:`PatchStream.dataset` does.
"""

from satseg.data.arrays import (
    IGNORE,
    ImageArrays,
    channel_stats,
    load_image_arrays,
    normalise,
    stack_to_hwc,
)
from satseg.data.augment import (
    AugmentConfig,
    augment_into,
    augment_patch,
    dihedral,
    dihedral_inverse,
)
from satseg.data.cache import cached, default_cache_dir
from satseg.data.exclusive import (
    exclusive_scores,
    labels_are_exclusive,
    resolve_mode,
    targets_are_exclusive,
)
from satseg.data.pipeline import PatchStream
from satseg.data.sampling import PatchSampler
from satseg.data.split import Split, group_of, split_ids

__all__ = [
    "IGNORE",
    "AugmentConfig",
    "ImageArrays",
    "PatchSampler",
    "PatchStream",
    "Split",
    "augment_into",
    "cached",
    "default_cache_dir",
    "exclusive_scores",
    "labels_are_exclusive",
    "resolve_mode",
    "targets_are_exclusive",
    "augment_patch",
    "channel_stats",
    "dihedral",
    "dihedral_inverse",
    "group_of",
    "load_image_arrays",
    "normalise",
    "split_ids",
    "stack_to_hwc",
]
