"""The emotion CNN: a compact residual network of plain 3x3 convolutions, sized for 2-core CPUs.

Why this shape (measured on 2 cores, see benchmarks/classifier_speed.py and the model card):
- Plain 3x3 convolutions train ~5x faster than depthwise-separable ones under TensorFlow on CPU
  (73 s vs 385 s per FER2013 epoch), and JAX on CPU was slower still.
- One residual block per resolution (24, 12, 6, 3 px) with widths 32/48/128/256 keeps LiteRT
  float32 inference near 2,500 faces/s at batch 32 while putting the parameters (~1.2M) in the
  cheap low-resolution stages.
"""

from __future__ import annotations

import keras
from keras import layers

from engage.emotions import EMOTIONS
from engage.preprocess import INPUT_SIZE

STEM = 16
WIDTHS = (32, 48, 128, 256)


def _conv_bn(x, filters: int, name: str, strides: int = 1, kernel: int = 3):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def _residual_block(x, filters: int, name: str):
    """A ResNet basic block that halves the resolution: conv s2, conv, plus a 1x1 s2 shortcut."""
    y = layers.ReLU(name=f"{name}_a_relu")(_conv_bn(x, filters, f"{name}_a", strides=2))
    y = _conv_bn(y, filters, f"{name}_b")
    shortcut = _conv_bn(x, filters, f"{name}_proj", strides=2, kernel=1)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


def build_model(widths: tuple[int, ...] = WIDTHS, stem: int = STEM, dropout: float = 0.3) -> keras.Model:
    """Build the uncompiled classifier: (N, 48, 48, 1) standardised faces -> 7 softmax scores."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = layers.ReLU(name="stem_relu")(_conv_bn(inputs, stem, "stem"))
    for stage, width in enumerate(widths, start=1):
        x = _residual_block(x, width, f"s{stage}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", name="emotions")(x)
    return keras.Model(inputs, outputs, name="engage_emotion")
