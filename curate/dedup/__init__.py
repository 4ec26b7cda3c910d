"""Algorithms behind the dedup stages (signatures, LSH), kept apart from the stages that run them."""
