"""Converters between the canonical model and each external format, one module per format."""
