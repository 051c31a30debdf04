"""`python -m vlm_ocr` -> cli.main()."""

import sys

from vlm_ocr.cli import main

if __name__ == "__main__":
    sys.exit(main())
