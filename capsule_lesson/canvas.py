"""Training on the two-digit test's canvas, one digit at a time: the augmentation "place the digit on a larger
canvas". Every training image still holds exactly one digit; only its surroundings are those of the test.
"""

import math

import keras
import numpy as np

from .data import NUM_CLASSES, to_model_input
from .two_digit import LAYOUTS, one_digit_blank_test_set


class OneDigitCanvas(keras.utils.PyDataset):
    """Batches of ``(images, one-hot targets)``: each training digit joined to an all-black image of its size,
    as :func:`capsule_lesson.one_digit_blank_test_set` does for the test.

    The layout alternates from batch to batch (side 28x56, stacked 56x28, so both seams are seen), and a seeded
    coin per image says which half holds the digit. The order is reshuffled every epoch; everything follows
    from ``seed``. ``x (n, 28, 28)`` uint8, ``y (n,)``.
    """

    def __init__(self, x, y, batch_size=128, seed=0, **kwargs):
        super().__init__(**kwargs)
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x and y must hold the same number (> 0) of images, got {len(x)} and {len(y)}")
        self.x, self.y, self.batch_size, self.seed = np.asarray(x), np.asarray(y), int(batch_size), int(seed)
        self.epoch = 0
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        take = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        layout = LAYOUTS[(index + self.epoch) % len(LAYOUTS)]
        images, labels = one_digit_blank_test_set(self.x[take], self.y[take], layout=layout,
                                                  seed=[self.seed, self.epoch, index])
        return to_model_input(images), keras.utils.to_categorical(labels, NUM_CLASSES)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))
