"""The bottom layer: typed settings, logging set-up, the extension registry and the one vocabulary.

Every other package may import ``kernel``; ``kernel`` imports none of them.
"""
