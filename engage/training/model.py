"""The emotion CNN: VGG-style stages of plain 3x3 convolutions, sized for 2-core CPUs.

Why this shape (issue 17; measured on 2 cores, see benchmarks/classifier_speed.py and the model card):
- The first model (a 16-channel stem, then stride-2 residual blocks) underfit: training accuracy
  ended where PublicTest did (~65%). Two full-resolution 32-channel convolutions before the first
  pooling give the net the capacity to see fine expression detail.
- Plain 3x3 convolutions train ~5x faster than depthwise-separable ones under TensorFlow on CPU,
  and JAX on CPU was slower still.
- The core sees 40x40 crops: random crops of the 48x48 face for training, the centre crop at
  inference (``inference_model`` puts that crop inside the shipped model, so the pipeline keeps
  feeding 48x48 faces).
"""

from __future__ import annotations

import keras
from keras import layers

from engage.emotions import EMOTIONS
from engage.vision.preprocess import INPUT_SIZE

CROP_SIZE = 40
WIDTHS = (32, 64, 128, 256)


def _conv_bn_relu(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_model(widths: tuple[int, ...] = WIDTHS, dropout: float = 0.4, size: int = CROP_SIZE) -> keras.Model:
    """The trainable core: (N, size, size, 1) standardised faces -> 7 softmax scores."""
    inputs = keras.Input((size, size, 1), name="face")
    x = inputs
    for stage, width in enumerate(widths, start=1):
        x = _conv_bn_relu(x, width, f"s{stage}a")
        x = _conv_bn_relu(x, width, f"s{stage}b")
        if stage < len(widths):
            x = layers.MaxPooling2D(name=f"s{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", name="emotions")(x)
    return keras.Model(inputs, outputs, name="engage_emotion_core")


def inference_model(core: keras.Model) -> keras.Model:
    """What ships: 48x48 standardised faces -> centre crop -> the trained core."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    size = core.input_shape[1]
    x = layers.CenterCrop(size, size, name="centre_crop")(inputs) if size != INPUT_SIZE else inputs
    return keras.Model(inputs, core(x), name="engage_emotion")
