"""Audio front end: feature extractors (registered by name), ADPIT labels and the feature cache.

Importing the package registers every extractor: ``feature.base.extractor_names()`` lists them.
"""
from feature import baseline, binaural, foa, mic  # noqa: F401  (each module registers its extractors)
