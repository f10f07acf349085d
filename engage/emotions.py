"""The seven emotion classes, in FER2013 label order, and the FER+ vote mapping."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
# FERPLUS_TO_FER[i] is the FER+ column holding the votes for EMOTIONS[i].
FERPLUS_TO_FER: tuple[int, ...] = (4, 5, 6, 1, 3, 2, 0)
FERPLUS_NOT_A_FACE = 9
