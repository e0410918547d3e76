"""Placeholder: the render engine lands here (decode once, every size)."""
