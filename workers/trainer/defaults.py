"""Every trainer default in one block, with its unit (airbench manner). No torch here."""

from __future__ import annotations

# --- model (docs/architecture.md, "The CNN search space") ---
MAX_FILTERS = 256  # channels; cap on num_filters * 2**block
POOL_MIN_SIZE_PX = 2  # max-pool 2 only while the feature map is at least this wide
LEAKY_RELU_SLOPE = 0.01  # negative slope of leaky_relu
SGD_MOMENTUM = 0.9  # momentum of the sgd optimizer

# --- data ---
VAL_FRACTION = 0.1  # share of the (subsampled) train pool held out for validation
DIGITS_TEST_FRACTION = 0.2  # sklearn digits ship unsplit; 80/20 split
IMAGEFOLDER_TEST_FRACTION = 0.2  # an imagefolder: without train/ and test/ sub-folders: 80/20 per class
SPLIT_SEED = 0  # fixed: every trial of a sweep sees the same val/test split
DATA_SEED = 0  # fixed: every trial of a sweep sees the same subsample, so only hyperparameters differ
RAW_CACHE_SIZE = 4  # datasets kept decoded on CPU per process
DEVICE_CACHE_SIZE = 4  # prepared (subsampled, on-device) datasets kept per process
# Where datasets are read from is the operator's: broker.settings (data_dir, fashion_mnist_dir, ...).

# --- loop ---
EVAL_BATCH_SIZE = 1024  # images per forward pass when scoring val/test
CHECK_EVERY_BATCHES = 8  # batches between mid-epoch checks of the time limit and loss finiteness
