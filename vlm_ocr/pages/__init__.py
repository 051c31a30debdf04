"""The ground floor: the on-disk page contract that the data tools, the training data and the scorer share.

PDF pages (open, count, size, render), trees of <stem>.md + <stem>.pdf pairs, the YAML front matter, the olmOCR
prompts, and atomic file writes. Nothing here imports torch, Lightning or transformers.
"""
