"""The olmOCR data-preparation tools as standalone CLIs; each module is one tool (see `python -m data_tools`)."""
