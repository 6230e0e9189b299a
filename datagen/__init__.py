"""datagen: generate and curate synthetic multimodal (speech + vision + text) training data."""

__version__ = "0.1.0"
