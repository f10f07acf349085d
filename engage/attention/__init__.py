"""Attention from head pose: pose per face (pose), facing/down/away and readability (states), anonymous face
tracks (tracking) and the stage that joins them between the analyzer and the minutes (stage)."""
