"""Mechanics shared by the data-preparation tools and by inference: PDF pages, file writes."""
