"""Training, evaluation and export of the emotion model (needs Keras; TensorFlow for LiteRT export)."""
